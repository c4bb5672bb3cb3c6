"""Cost gate: estimate a call's cost before making it; refuse or downgrade above a limit."""

from __future__ import annotations

from typing import Any

from tierflow.patterns.base import Pattern, PatternResult
from tierflow.types import Message, Usage


def estimate_tokens(messages: list[Message]) -> int:
    """A rough input token count: about four characters per token, plus a few per message."""
    chars = sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else 0 for m in messages)
    return chars // 4 + 4 * len(messages)


def estimate_cost(client: Any, role: str, messages: list[Message], max_tokens: int) -> float | None:
    """Expected worst-case USD cost of ``role``'s first target: estimated input + ``max_tokens``
    output at the target's price. None when the price is unknown."""
    target = client.planner.plan(role).targets[0]
    if target.cost is None:
        return None
    return float(target.cost(Usage(input_tokens=estimate_tokens(messages), output_tokens=max_tokens)))


class CostGate(Pattern):
    """Call ``role`` only if its estimated cost is within ``limit_usd``; otherwise downgrade to
    ``downgrade_to`` (if given and within the limit) or refuse: the result then has no content,
    ``details["refused"]`` is True and the reason gives the estimate. An unknown price counts as
    over the limit unless ``allow_unknown=True``. ``max_tokens`` bounds (and prices) the output.
    """

    pattern_name = "cost_gate"

    def __init__(self, name: str | None = None, *, role: str = "primary", limit_usd: float,
                 downgrade_to: str | None = None, max_tokens: int = 512, allow_unknown: bool = False,
                 **kwargs: Any) -> None:
        if limit_usd < 0:
            raise ValueError("limit_usd must be >= 0")
        self.role, self.limit_usd, self.downgrade_to = role, limit_usd, downgrade_to
        self.allow_unknown = allow_unknown
        super().__init__(name, max_tokens=max_tokens, **kwargs)

    def _fits(self, cost: float | None) -> bool:
        return self.allow_unknown if cost is None else cost <= self.limit_usd

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        max_tokens = int(self.call_params.get("max_tokens", 512))
        estimates: dict[str, float | None] = {}
        for role in [self.role, *([self.downgrade_to] if self.downgrade_to else [])]:
            cost = estimate_cost(client, role, messages, max_tokens)
            estimates[role] = cost
            if self._fits(cost):
                result = await client.acall(role, messages, **self.call_params)
                shown = "unknown" if cost is None else f"${cost:.6f}"
                reason = (f"estimated {shown} <= limit ${self.limit_usd:g} on {role!r}" if role == self.role
                          else f"{self.role!r} estimated over the limit ${self.limit_usd:g} -> "
                               f"downgraded to {role!r} (estimated {shown})")
                return PatternResult(content=result.text, model_used=result.model_used, role=role,
                                     reason=reason, escalated=False, calls=[result],
                                     details={"refused": False, "estimates": estimates,
                                              "downgraded": role != self.role})
        shown = ", ".join(f"{r}: {'unknown price' if c is None else f'${c:.6f}'}" for r, c in estimates.items())
        return PatternResult(content=None, model_used=None, role=None,
                             reason=f"refused: estimated cost over the limit ${self.limit_usd:g} ({shown})",
                             details={"refused": True, "estimates": estimates, "downgraded": False})

    def role_refs(self) -> list[tuple[str, str, str]]:
        refs = [("role", self.role, "chat")]
        if self.downgrade_to is not None:
            refs.append(("downgrade_to", self.downgrade_to, "chat"))
        return refs

    def config(self) -> dict[str, Any]:
        return {"role": self.role, "limit_usd": self.limit_usd, "downgrade_to": self.downgrade_to,
                "allow_unknown": self.allow_unknown}


__all__ = ["CostGate", "estimate_cost", "estimate_tokens"]
