"""Live routing: a registry role backed by a router file (contract 2 of the call layer).

A config entry ``{role: auto, router: routers/auto.json, candidates: [fast, primary],
target: {quality: 0.95}}`` becomes a :class:`RoutedRole`. Its ``choose(messages)`` embeds the
last user message, asks the router, and returns a :class:`~tierflow.routing.routers.Decision`
naming the chosen candidate *role*, its predicted quality and cost, and the runner-up. The
call layer then dispatches to the chosen role and records the decision in the result.

The router's model names (those of the outcome tables it was fitted on) are matched to the
candidate roles by role name, by ``"ref/model"``, or by model id; an explicit
``models: {router_model: role}`` mapping in the entry overrides the matching.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import ConfigError, Problem
from tierflow.routing.boilerplate import strip_prefixes
from tierflow.routing.calibrate import Target, retarget
from tierflow.routing.embed import Embedder, get_embedder
from tierflow.routing.io import load_router
from tierflow.routing.pipeline import embed_prompts
from tierflow.routing.routers import Decision, Router, knob_json

_ENTRY_KEYS = {"role", "router", "candidates", "target", "models"}


def prompt_text(messages: Sequence[Mapping[str, Any]] | str) -> str:
    """The text a router decides on: the last user message (or the string itself)."""
    if isinstance(messages, str):
        return messages
    for msg in reversed(list(messages)):
        if msg.get("role", "user") == "user":
            content = msg.get("content", "")
            if isinstance(content, list):  # content parts
                return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            return str(content)
    return ""


def _match(model: str, role: str, registry: Any) -> bool:
    if model == role:
        return True
    try:
        entry = registry.get(role)
    except Exception:  # noqa: BLE001 - unknown roles are reported by the caller
        return False
    return model in (f"{entry.ref}/{entry.model}", entry.model) or model.endswith("/" + entry.model)


class RoutedRole:
    """A role whose target is chosen per request by a router, among candidate roles."""

    def __init__(self, role: str, router: Router, role_of_model: dict[str, str]) -> None:
        self.role, self.router, self.role_of_model = role, router, role_of_model
        self._allowed = [router.models.index(m) for m in role_of_model]
        self._embedder: Embedder | None = None
        self._last: tuple[str, np.ndarray] | None = None

    @property
    def candidates(self) -> list[str]:
        return list(dict.fromkeys(self.role_of_model.values()))

    def _embed(self, text: str) -> np.ndarray:
        if self._last is not None and self._last[0] == text:  # a cascade asks once per consulted model
            return self._last[1]
        if self._embedder is None:
            self._embedder = get_embedder(self.router.embedder, cache=False)
        emb = embed_prompts(self.router, [text], self._embedder)[0]
        self._last = (text, emb)
        return emb

    def choose(self, messages: Sequence[Mapping[str, Any]] | str) -> Decision:
        """Pick the candidate role for one request."""
        text = prompt_text(messages)
        emb = self._embed(text)
        knob = self.router.knob_for(text)
        decision = self.router.choose(emb, knob=knob, allowed=self._allowed,
                                      text=strip_prefixes(text, self.router.prefixes))
        decision.chosen_role = self.role_of_model[decision.chosen_model]
        if decision.runner_up_model in self.role_of_model:
            decision.runner_up = self.role_of_model[decision.runner_up_model]
        decision.details.setdefault("router_kind", self.router.kind)
        decision.details.setdefault("routed_role", self.role)
        decision.details.setdefault("knob", knob_json(knob))  # under a mix, this prompt's setting
        return decision

    def next_step(self, messages: Sequence[Mapping[str, Any]] | str, answers: Mapping[str, str | None]
                  ) -> dict[str, Any]:
        """What to do next for one request, given the ``answers`` of the roles consulted so far:
        ``{"action": "consult" | "answer", "role", "model", "confidence", "threshold", "stage"}``.
        A cascade router runs its chain (its learned estimator decides when to stop); any other
        router consults its choice and answers with it (see :meth:`Router.next_step`)."""
        text = prompt_text(messages)
        responses = {j: answers[self.role_of_model[m]] for j, m in enumerate(self.router.models)
                     if self.role_of_model.get(m) in answers}
        step = self.router.next_step(self._embed(text), text, responses, knob=self.router.knob_for(text),
                                     allowed=self._allowed)
        model = self.router.models[step.model]
        return {"action": step.action, "role": self.role_of_model[model], "model": model,
                "confidence": step.confidence, "threshold": step.threshold, "stage": step.stage}


def load_routed_role(entry: Mapping[str, Any], registry: Any, *, base_dir: str | Path | None = None) -> RoutedRole:
    """Build the :class:`RoutedRole` of a config entry (paths relative to ``base_dir`` or the cwd)."""
    role = str(entry.get("role", "?"))
    where = f"models (role {role!r})"
    problems: list[Problem] = []
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        problems.append(Problem(where, f"unknown key(s) {sorted(unknown)} for a routed role; expected "
                                       f"{sorted(_ENTRY_KEYS)}"))
    candidates = entry.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        problems.append(Problem(f"{where}.candidates", "a routed role needs a non-empty list of candidate roles"))
        candidates = []
    for c in candidates:
        if c not in registry:
            problems.append(Problem(f"{where}.candidates", f"{c!r} is not a declared role"))
    if not entry.get("router"):
        problems.append(Problem(f"{where}.router", "path of a router file (from `tierflow route fit`) is required"))
    if problems:
        raise ConfigError(problems)
    path = Path(str(entry["router"]))
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    router = load_router(path)
    mapping = dict(entry.get("models") or {})
    role_of_model: dict[str, str] = {}
    for model in router.models:
        if model in mapping:
            role_of_model[model] = str(mapping[model])
            continue
        for c in candidates:
            if _match(model, c, registry):
                role_of_model[model] = c
                break
    if not role_of_model:
        raise ConfigError([Problem(f"{where}.candidates", f"none of the router's models {router.models} matches "
                                   f"a candidate role {candidates}; name them in `models: {{router_model: role}}`")])
    if entry.get("target"):
        router.knob, router.mix = retarget(router, Target.from_dict(dict(entry["target"])))
    return RoutedRole(role, router, role_of_model)


__all__ = ["RoutedRole", "load_routed_role", "prompt_text"]
