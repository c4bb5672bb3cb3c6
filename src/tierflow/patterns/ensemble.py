"""Ensemble: the same request to several roles in parallel, aggregated, agreement reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from tierflow.errors import AllTargetsFailedError
from tierflow.patterns.base import Pattern, PatternResult, callable_name
from tierflow.patterns.confidence import agreement, normalize
from tierflow.types import CallResult, Message

Aggregator = Callable[[list[CallResult]], tuple[str | None, float | None]]
"""Custom aggregation: the members' answers -> (final text, confidence)."""


class Ensemble(Pattern):
    """Ask every role in ``roles`` at once; ``aggregate="majority"`` (default) votes on the
    normalised answers (``key``), ``"longest"`` keeps the most detailed one, or pass a function.
    ``confidence`` is the winner's share of the votes; members that fail are reported, not fatal
    (unless all fail).
    """

    pattern_name = "ensemble"

    def __init__(self, name: str | None = None, *, roles: Sequence[str],
                 aggregate: str | Aggregator = "majority",
                 key: Callable[[str | None], str] = normalize, **kwargs: Any) -> None:
        if len(roles) < 2:
            raise ValueError("an ensemble needs at least two roles")
        if not callable(aggregate) and aggregate not in ("majority", "longest"):
            raise ValueError("aggregate is 'majority', 'longest' or a function")
        self.roles, self.aggregate, self.key = list(roles), aggregate, key
        super().__init__(name, **kwargs)

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        outcomes = await asyncio.gather(*(client.acall(r, messages, **self.call_params) for r in self.roles),
                                        return_exceptions=True)
        calls: list[CallResult] = []
        failed: dict[str, str] = {}
        by_role: dict[str, CallResult] = {}
        for role, out in zip(self.roles, outcomes):
            if isinstance(out, BaseException):
                if not isinstance(out, Exception):
                    raise out
                failed[role] = f"{type(out).__name__}: {out}"
            else:
                calls.append(out)
                by_role[role] = out
        if not calls:
            raise AllTargetsFailedError(self.name, [], next(o for o in outcomes if isinstance(o, BaseException)))
        winner, share, votes = agreement([c.text for c in calls], self.key)
        if callable(self.aggregate):
            content, confidence = self.aggregate(calls)
            how = f"aggregated by {callable_name(self.aggregate)}"
        elif self.aggregate == "longest":
            content, confidence = max((c.text for c in calls), key=len), share
            how = "longest answer"
        else:
            content, confidence = winner, share
            how = f"majority vote {max(votes.values())}/{len(calls)}"
        chosen = next((r for r, c in by_role.items() if c.text == content), None)
        reason = f"{how} over {len(calls)} of {len(self.roles)} roles; agreement {share:.2f}"
        if failed:
            reason += f"; failed: {sorted(failed)}"
        return PatternResult(content=content, model_used=by_role[chosen].model_used if chosen else None,
                             role=chosen, reason=reason, confidence=confidence, calls=calls,
                             details={"agreement": share, "votes": votes, "failed": failed,
                                      "answers": {r: c.text for r, c in by_role.items()}})

    def role_refs(self) -> list[tuple[str, str, str]]:
        return [(f"roles[{i}]", r, "chat") for i, r in enumerate(self.roles)]

    def config(self) -> dict[str, Any]:
        return {"roles": self.roles, "aggregate": callable_name(self.aggregate)
                if callable(self.aggregate) else self.aggregate}


__all__ = ["Aggregator", "Ensemble"]
