"""Cascade: answer with the cheap role, score the answer, escalate when confidence is low.

Nothing is hidden: the thresholds per request class are explicit, and the result says which
role answered, its confidence, and the reason for every escalation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tierflow.patterns.base import Pattern, PatternResult, callable_name
from tierflow.patterns.confidence import Signal, signal_from
from tierflow.types import CallResult, Message


class Cascade(Pattern):
    """Try ``roles`` cheapest first (``cheap`` then ``strong``); accept the first answer whose
    ``signal`` score reaches the threshold of the request's class; the last role always answers.

    ``threshold`` is a number, or a mapping ``class -> threshold`` with ``classify(messages) ->
    class`` (a missing class uses ``"default"``). ``on_unknown``: what to do when the signal
    cannot score (no logprobs): ``"escalate"`` (default) or ``"accept"``.

    ``start_from`` names a routed role (``{role: auto, router: ...}`` in the config): the cascade
    then starts at the role that router chooses for the request, and escalates from there on
    low confidence (cascade routing); the router's decision is in the result's details.
    """

    pattern_name = "cascade"

    def __init__(self, name: str | None = None, *, cheap: str = "fast", strong: str = "primary",
                 roles: Sequence[str] | None = None, signal: Signal | str = "logprobs",
                 threshold: float | Mapping[str, float] = 0.7,
                 classify: Callable[[list[Message]], str] | None = None,
                 on_unknown: str = "escalate", start_from: str | None = None, **kwargs: Any) -> None:
        self.roles = list(roles) if roles else [cheap, strong]
        if len(self.roles) < 2:
            raise ValueError("a cascade needs at least two roles (cheap first)")
        self.signal = signal_from(signal)
        self.threshold = threshold
        self.classify = classify
        if on_unknown not in ("escalate", "accept"):
            raise ValueError("on_unknown is 'escalate' or 'accept'")
        self.on_unknown = on_unknown
        self.start_from = start_from
        super().__init__(name, **kwargs)

    def _threshold(self, messages: list[Message]) -> tuple[str, float]:
        if not isinstance(self.threshold, Mapping):
            return "default", float(self.threshold)
        cls = self.classify(messages) if self.classify else "default"
        if cls not in self.threshold and "default" not in self.threshold:
            raise ValueError(f"cascade {self.name!r}: no threshold for class {cls!r} and no 'default'")
        return cls, float(self.threshold.get(cls, self.threshold.get("default", 0.0)))

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        cls, threshold = self._threshold(messages)
        params = dict(self.call_params)
        if self.signal.wants_logprobs:
            params["logprobs"] = True
        calls: list[CallResult] = []
        steps: list[dict[str, Any]] = []
        roles, decision = await self._ladder(messages, client)
        for i, role in enumerate(roles):
            result = await client.acall(role, messages, **params)
            calls.append(result)
            if i == len(roles) - 1:
                score: float | None = None
                why = self._last_reason(role, decision, len(roles))
            else:
                ok, score, why, extra = await self._judge(client, role, messages, result, params, threshold, cls)
                calls += extra
                if not ok:
                    steps.append({"role": role, "model": result.model_used, "confidence": score,
                                  "reason": why})
                    continue
            routed = [] if decision is None else [f"router {self.start_from!r} chose "
                                                  f"{decision.get('chosen_role')!r}"]
            reason = "; ".join(routed + [s["reason"] + " -> escalated" for s in steps] + [why])
            return PatternResult(content=result.text, model_used=result.model_used, role=role,
                                 reason=reason, confidence=score, escalated=bool(steps), calls=calls,
                                 details={"class": cls, "threshold": threshold, "escalations": steps,
                                          "signal": self.signal.name, "decision": decision})
        raise AssertionError("unreachable: the last role always answers")  # pragma: no cover

    def _last_reason(self, role: str, decision: dict[str, Any] | None, n_roles: int) -> str:
        """Why the last role answered: it is the cascade's last (or the only one the router left)."""
        if decision is not None and n_roles == 1:
            return f"router {self.start_from!r} chose {role!r}, the last role of the cascade"
        return f"answered by {role!r}, the last role of the cascade"

    async def _judge(self, client: Any, role: str, messages: list[Message], result: CallResult,
                     params: dict[str, Any], threshold: float, cls: str
                     ) -> tuple[bool, float | None, str, list[CallResult]]:
        """Whether ``role``'s answer is accepted: ``(ok, confidence, why, calls the signal made)``."""
        score, extra = await self.signal.score(client, role, messages, result, params)
        if score is None:
            return self.on_unknown == "accept", None, f"{self.signal.name} gave no score for {role!r}", extra
        ok = score >= threshold
        why = (f"{self.signal.name} confidence {score:.3f} "
               f"{'>=' if ok else '<'} threshold {threshold:g} (class {cls!r}) on {role!r}")
        return ok, score, why, extra

    async def _ladder(self, messages: list[Message], client: Any) -> tuple[list[str], dict[str, Any] | None]:
        """The roles to try, from the router's choice when ``start_from`` is set."""
        if self.start_from is None:
            return self.roles, None
        decision = await client.adecide(self.start_from, messages)
        if decision is None:
            raise ValueError(f"cascade {self.name!r}: start_from={self.start_from!r} is not a routed role")
        chosen = decision.get("chosen_role")
        start = self.roles.index(chosen) if chosen in self.roles else 0
        return self.roles[start:], decision

    def role_refs(self) -> list[tuple[str, str, str]]:
        refs = [(f"roles[{i}]", r, "chat") for i, r in enumerate(self.roles)]
        if self.start_from is not None:
            refs.append(("start_from", self.start_from, "routed"))
        verifier = getattr(self.signal, "role", None)  # VerifierScore asks a role for a score
        if isinstance(verifier, str):
            refs.append(("signal", verifier, "chat"))
        return refs

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"roles": self.roles, "signal": self.signal.name,
                               "threshold": self.threshold, "on_unknown": self.on_unknown}
        if self.start_from is not None:
            cfg["start_from"] = self.start_from
        if self.classify is not None:
            cfg["classify"] = callable_name(self.classify)
        return cfg


__all__ = ["Cascade"]
