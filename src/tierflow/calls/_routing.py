"""Routed roles and traffic splits in a call: turn the role chosen into the plan to run.

A routed role's plan has a router and no targets; :func:`resolve` asks the router which role
answers (emitting :class:`~tierflow.calls.events.RouteDecided`) and takes that role's targets. A
split's plan has a split and no targets; :func:`resolve` draws its variant (sticky for the call's
``split_key``, see :mod:`tierflow.splits`) and takes the variant's targets, temperature and system
context, recording the variant in the plan (``CallResult.variant``, ``CallFinished.variant``).
Then it appends the call's own ``fallback=`` targets to any plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from tierflow.calls.events import Observer, RouteDecided, emit
from tierflow.calls.plan import Plan, Planner, RoleRouter, RouterFactory
from tierflow.config import ProjectConfig
from tierflow.types import Message


def load_router_factory(config: ProjectConfig) -> RouterFactory | None:
    """``tierflow.routing.live.load_routed_role`` bound to the registry (None: no routed roles)."""
    if not config.routed_roles:
        return None
    from tierflow.routing.live import load_routed_role  # only configs with routed roles pay for it

    source = Path(config.source)
    base_dir = source.parent if source.is_file() else None  # router paths are relative to the config
    return lambda entry: load_routed_role(entry, config.registry, base_dir=base_dir)


async def choose(router: RoleRouter, messages: list[Message] | str) -> dict[str, Any]:
    """The router's decision for ``messages`` as a dict (its ``choose`` may be sync or async)."""
    chosen = router.choose(messages)
    if asyncio.iscoroutine(chosen):
        chosen = await chosen
    return as_dict(chosen)


async def resolve(planner: Planner, plan: Plan, messages: list[Message] | str, fallback: Sequence[str] | None,
                  observers: Sequence[Observer], request_id: str, split_key: str | None = None
                  ) -> tuple[Plan, dict[str, Any] | None, float]:
    """The plan to run (a routed role's choice or a split's variant, extended by ``fallback``), the
    decision, and the one-time set-up spent building plans on the way."""
    decision: dict[str, Any] | None = None
    clock = planner.setup
    setup = 0.0
    if plan.split is not None:
        variant = plan.split.choose(split_key)
        before = clock.spent
        inner = planner.plan(variant)
        setup += clock.spent - before
        plan = Plan(name=plan.name, role=plan.role, targets=inner.targets, temperature=inner.temperature,
                    system_context=inner.system_context, variant=variant, modalities=inner.modalities)
    elif plan.router is not None:
        decision = await choose(plan.router, messages)
        if observers:
            emit(observers, RouteDecided(request_id, plan.role, decision))
        before = clock.spent
        inner = planner.plan(decision["chosen_role"])
        setup += clock.spent - before
        plan = Plan(name=plan.name, role=plan.role, targets=inner.targets, temperature=inner.temperature,
                    system_context=inner.system_context, max_tokens=inner.max_tokens, modalities=inner.modalities)
    if fallback:
        before = clock.spent
        plan = plan.extended(planner.targets_for(fallback))
        setup += clock.spent - before
    return plan, decision, setup


def as_dict(decision: object) -> dict[str, Any]:
    """A router's decision (dict, dataclass, pydantic model or plain object) as a dict."""
    if isinstance(decision, dict):
        return decision
    if is_dataclass(decision) and not isinstance(decision, type):
        return asdict(decision)
    model_dump = getattr(decision, "model_dump", None)
    if model_dump is not None:
        result: dict[str, Any] = model_dump()
        return result
    return dict(vars(decision))


__all__ = ["as_dict", "choose", "load_router_factory", "resolve"]
