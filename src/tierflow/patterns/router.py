"""Router: a cheap role (or a function) classifies the request; a specialist role answers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tierflow.patterns.base import Pattern, PatternResult, callable_name, last_user_text
from tierflow.types import CallResult, Message


class Router(Pattern):
    """``Router(classifier="fast", routes={"CODE": "code", "MATH": "primary"}, default="fast")``.

    The classifier role is asked to answer with one label; the first label found in its answer
    (whole word, any case) picks the route, else ``default``. ``classifier`` may also be a
    function ``messages -> label`` (rules, an embedding router...), which costs no call.
    """

    pattern_name = "router"
    PROMPT = ("Classify the request into exactly one category: {labels}.\n{descriptions}"
              "Respond with only the category name.")

    def __init__(self, name: str | None = None, *, routes: Mapping[str, str],
                 classifier: str | Callable[[list[Message]], str] = "fast", default: str | None = None,
                 descriptions: Mapping[str, str] | None = None, classify_max_tokens: int = 8,
                 **kwargs: Any) -> None:
        if not routes:
            raise ValueError("a router needs at least one route: {label: role}")
        self.routes = {str(k): v for k, v in routes.items()}
        self.classifier = classifier
        self.default = default if default is not None else next(iter(self.routes.values()))
        self.descriptions = dict(descriptions or {})
        self.classify_max_tokens = classify_max_tokens
        self._patterns = [(label, re.compile(rf"\b{re.escape(label)}\b", re.IGNORECASE))
                          for label in self.routes]
        super().__init__(name, **kwargs)

    def label_of(self, text: str) -> str | None:
        """The route label found earliest in ``text`` (None when no label appears)."""
        found = [(m.start(), label) for label, rx in self._patterns if (m := rx.search(text or ""))]
        return min(found)[1] if found else None

    async def _classify(self, messages: list[Message], client: Any) -> tuple[str | None, str, list[CallResult]]:
        if callable(self.classifier):
            raw = str(self.classifier(messages))
            return self.label_of(raw) or (raw if raw in self.routes else None), raw, []
        desc = "".join(f"- {k}: {v}\n" for k, v in self.descriptions.items())
        ask = [{"role": "system", "content": self.PROMPT.format(labels=", ".join(self.routes),
                                                               descriptions=desc)},
               {"role": "user", "content": last_user_text(messages)}]
        result = await client.acall(self.classifier, ask, max_tokens=self.classify_max_tokens,
                                    temperature=0.0)
        return self.label_of(result.text), result.text, [result]

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        label, raw, calls = await self._classify(messages, client)
        role = self.routes[label] if label is not None else self.default
        who = "function" if callable(self.classifier) else repr(self.classifier)
        reason = (f"classifier {who} said {raw.strip()[:40]!r} -> label {label!r} -> role {role!r}"
                  if label is not None else
                  f"classifier {who} said {raw.strip()[:40]!r}: no known label -> default role {role!r}")
        answer = await client.acall(role, messages, **self.call_params)
        return PatternResult(content=answer.text, model_used=answer.model_used, role=role,
                             reason=reason, calls=[*calls, answer],
                             details={"label": label, "classifier_output": raw})

    def role_refs(self) -> list[tuple[str, str, str]]:
        refs = [(f"routes.{label}", role, "chat") for label, role in self.routes.items()]
        refs.append(("default", self.default, "chat"))
        if isinstance(self.classifier, str):
            refs.append(("classifier", self.classifier, "chat"))
        return refs

    def config(self) -> dict[str, Any]:
        return {"routes": self.routes, "default": self.default, "descriptions": self.descriptions,
                "classifier": callable_name(self.classifier) if callable(self.classifier)
                else self.classifier}


__all__ = ["Router"]
