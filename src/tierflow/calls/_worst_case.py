"""The most a call can cost before it is made: the bound a budget reserves (README, "Cost").

Every input byte is counted as a token (no tokenizer makes fewer bytes than tokens), the answer
as all of its ``max_tokens``, at the price of the dearest target that could serve it: every
target of a role's chain, of every candidate of a routed role, of every variant of a split.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tierflow.calls.plan import Plan, Planner
from tierflow.types import Message, Usage

UnknownPrice = Callable[[Usage], float]
"""The cost assumed for a target with no known price (e.g. a budget's stated estimate)."""

_MESSAGE_OVERHEAD = 8  # role and separators, in bytes
_REQUEST_OVERHEAD = 16


def input_bytes(messages: list[Message] | str) -> int:
    """An upper bound of a prompt's tokens: its bytes (text parts, tool calls, images as sent)."""
    if isinstance(messages, str):
        return len(messages.encode()) + _MESSAGE_OVERHEAD + _REQUEST_OVERHEAD
    total = _REQUEST_OVERHEAD
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content) if content is not None else ""
        total += len(text.encode()) + _MESSAGE_OVERHEAD
        calls = message.get("tool_calls")
        if calls:
            total += len(json.dumps(calls).encode())
    return total


def _plans(planner: Planner, name: str, seen: set[str]) -> list[Plan]:
    """The model-role plans ``name`` may end up calling (routed candidates, split variants)."""
    if name in seen:
        return []
    seen.add(name)
    plan = planner.plan_any_modality(name)  # an embedding role's bound too
    if plan.router is not None:
        candidates = planner.config.routed_roles[plan.role or name].get("candidates") or []
        return [p for c in candidates for p in _plans(planner, str(c), seen)]
    if plan.split is not None:
        return [p for v in plan.split.variants for p in _plans(planner, v, seen)]
    return [plan]


def worst_case_cost(planner: Planner, name: str, messages: list[Message] | str, max_tokens: int,
                    unknown: UnknownPrice | None = None) -> float | None:
    """The most calling ``name`` with ``messages`` and ``max_tokens`` can cost, in USD; None when a
    target that could serve it has no known price and no ``unknown`` estimate is given."""
    prompt = input_bytes(messages)
    worst = 0.0
    for plan in _plans(planner, name, set()):
        system = len((plan.system_context or "").encode()) + _MESSAGE_OVERHEAD if plan.system_context else 0
        usage = Usage(prompt + system, max_tokens)
        for target in plan.targets:
            cost = target.cost(usage) if target.cost is not None else None
            if cost is None:
                if unknown is None:
                    return None
                cost = unknown(usage)
            worst = max(worst, cost)
    return worst


__all__ = ["UnknownPrice", "input_bytes", "worst_case_cost"]
