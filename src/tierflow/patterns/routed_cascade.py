"""RoutedCascade: run a fitted cascade router live, as ``route eval`` scored it.

``tierflow route fit --kind cascade`` learns, per kind of request, which cheap models to consult
in which order, an estimator of when their answer can be trusted, and the threshold that meets
the router's target. A routed role (``{role: auto, router: cascade.json, candidates: [...]}``)
on its own only pre-routes to the chain's first model; this pattern runs the whole chain: it
consults each model the router asks for, in turn, and returns the answer the router accepts.
Every call is charged; the result says which models were consulted and why it stopped. A role
whose call fails (after its own retries and fallback chain) counts as consulted with no answer:
the router goes on to its next stage and never answers with it, so one provider failing costs
an escalation, not the request.
"""

from __future__ import annotations

from typing import Any

from tierflow.errors import AllTargetsFailedError, DeadlineExceededError, ProviderError, TierflowError
from tierflow.patterns.base import Pattern, PatternResult
from tierflow.types import CallResult, Message

# what a role's call raises once its own retries and fallbacks are spent; the cascade goes on
_CALL_FAILURES = (AllTargetsFailedError, DeadlineExceededError, ProviderError)


class RoutedCascade(Pattern):
    """Consult the roles the routed role ``routed`` asks for until its router accepts an answer.

    Works with any router: a pre-router consults its one choice and answers with it. Every model
    the router may consult must map to a candidate role of ``routed``.
    """

    pattern_name = "routed_cascade"

    def __init__(self, name: str | None = None, *, routed: str = "auto", **kwargs: Any) -> None:
        self.routed = routed
        super().__init__(name, **kwargs)

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        params = dict(self.call_params)
        calls: list[CallResult] = []
        by_role: dict[str, CallResult] = {}
        answers: dict[str, str | None] = {}  # every consulted role, in order; None: its call failed
        failures: list[TierflowError] = []
        steps: list[dict[str, Any]] = []
        while True:
            step = await client.anext_step(self.routed, messages, answers)
            if step is None:
                raise ValueError(f"routed cascade {self.name!r}: {self.routed!r} is not a routed role")
            steps.append(step)
            role = step["role"]
            if step["action"] == "answer":
                break
            if role in answers or len(steps) > 64:
                raise RuntimeError(f"routed cascade {self.name!r}: the router asked for {role!r} again")
            try:
                by_role[role] = result = await client.acall(role, messages, **params)
            except _CALL_FAILURES as exc:  # after the role's own retries and fallbacks
                step["error"] = f"{type(exc).__name__}: {exc}"
                failures.append(exc)
                answers[role] = None
                continue
            calls.append(result)
            answers[role] = result.text
        answer = by_role.get(role)
        if answer is None and role in answers:  # every role the router could answer with failed
            attempts = [a for exc in failures for a in getattr(exc, "attempts", [])]
            raise AllTargetsFailedError(self.name, attempts, failures[-1])
        if answer is None:
            raise RuntimeError(f"routed cascade {self.name!r}: the router answered with {role!r}, "
                               "which it never consulted")
        failed = [r for r, text in answers.items() if text is None]
        reason = f"router {self.routed!r} consulted {list(answers)}"
        if failed:
            reason += f" ({failed} failed)"
        if step["confidence"] is not None and step["threshold"] is not None:
            relation = ">=" if step["confidence"] >= step["threshold"] else "<"
            reason += f"; acceptance score {step['confidence']:.3f} {relation} threshold {step['threshold']:g}"
        reason += f" -> answered by {role!r}"
        return PatternResult(content=answer.text, model_used=answer.model_used, role=role, reason=reason,
                             confidence=step["confidence"], escalated=len(answers) > 1, calls=calls,
                             details={"steps": steps, "consulted": list(answers), "failed": failed})

    def role_refs(self) -> list[tuple[str, str, str]]:
        return [("routed", self.routed, "routed")]

    def config(self) -> dict[str, Any]:
        return {"routed": self.routed}


__all__ = ["RoutedCascade"]
