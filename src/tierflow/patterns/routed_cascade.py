"""RoutedCascade: run a fitted cascade router live, as ``route eval`` scored it.

``tierflow route fit --kind cascade`` learns, per kind of request, which cheap models to consult
in which order, an estimator of when their answer can be trusted, and the threshold that meets
the router's target. A routed role (``{role: auto, router: cascade.json, candidates: [...]}``)
on its own only pre-routes to the chain's first model; this pattern runs the whole chain: it
consults each model the router asks for, in turn, and returns the answer the router accepts.
Every call is charged; the result says which models were consulted and why it stopped.
"""

from __future__ import annotations

from typing import Any

from tierflow.patterns.base import Pattern, PatternResult
from tierflow.types import CallResult, Message


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
        steps: list[dict[str, Any]] = []
        while True:
            step = await client.anext_step(self.routed, messages, {r: c.text for r, c in by_role.items()})
            if step is None:
                raise ValueError(f"routed cascade {self.name!r}: {self.routed!r} is not a routed role")
            steps.append(step)
            role = step["role"]
            if step["action"] == "answer":
                break
            if role in by_role or len(steps) > 64:
                raise RuntimeError(f"routed cascade {self.name!r}: the router asked for {role!r} again")
            by_role[role] = result = await client.acall(role, messages, **params)
            calls.append(result)
        answer = by_role.get(role)
        if answer is None:
            raise RuntimeError(f"routed cascade {self.name!r}: the router answered with {role!r}, which it never consulted")
        escalated = len(by_role) > 1
        reason = f"router {self.routed!r} consulted {list(by_role)}"
        if step["confidence"] is not None and step["threshold"] is not None:
            relation = ">=" if step["confidence"] >= step["threshold"] else "<"
            reason += (f"; acceptance score {step['confidence']:.3f} {relation} threshold {step['threshold']:g}"
                       f" -> answered by {role!r}")
        else:
            reason += f" -> answered by {role!r}"
        return PatternResult(content=answer.text, model_used=answer.model_used, role=role, reason=reason,
                             confidence=step["confidence"], escalated=escalated, calls=calls,
                             details={"steps": steps, "consulted": list(by_role)})

    def config(self) -> dict[str, Any]:
        return {"routed": self.routed}


__all__ = ["RoutedCascade"]
