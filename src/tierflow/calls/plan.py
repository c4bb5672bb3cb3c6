"""Resolving what a call names (a role, a ``provider/model``, a routed role, a traffic split) into
targets to try.

A :class:`Plan` is computed once per name and cached by the client, so the hot path pays for
neither registry look-ups nor price look-ups: each :class:`PlannedTarget` carries its provider
name, timeouts and cost function. Plans of the config's roles are kept for the client's life (the
config bounds them); plans of ``provider/model`` names, which callers can invent without end, are
kept for the :data:`ADHOC_PLANS` most recently used.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tierflow.config import ProjectConfig, parse_target
from tierflow.errors import ConfigError, PriceUnknownError, Problem, UnknownRoleError
from tierflow.pricing import CostFn, PriceTable
from tierflow.providers.base import Timeouts
from tierflow.registry import Target
from tierflow.splits import SplitEntry

ADHOC_PLANS = 1024
"""How many ``provider/model`` plans a client keeps (least recently used dropped first)."""


class SetupClock:
    """Seconds spent so far on one-time set-up (building plans, creating providers).

    A call reads it before and after a step that may set something up; the difference is set-up
    time the call reports apart from its latency (``CallResult.setup_s``).
    """

    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0.0


class RoleRouter(Protocol):
    """A routed role's chooser (``tierflow.routing.live.RoutedRole``): which role answers ``messages``.

    ``choose`` returns (or, if async, resolves to) a decision: a dict, dataclass or pydantic model
    with at least ``chosen_role``. A router may also have ``next_step(messages, answers)``.
    """

    def choose(self, messages: Sequence[Mapping[str, Any]] | str) -> object: ...


RouterFactory = Callable[[dict[str, Any]], RoleRouter]
"""Loads the router of a routed role's registry entry."""


@dataclass(frozen=True, slots=True)
class PlannedTarget:
    key: str
    """``"ref/model"``: the attempt's name and the circuit breaker's key."""
    provider: str
    model: str
    kind: str
    timeouts: Timeouts
    cost: CostFn | None


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    """What the caller asked for: a role or ``provider/model``."""
    role: str | None
    targets: tuple[PlannedTarget, ...]
    temperature: float | None = None
    system_context: str | None = None
    max_tokens: int | None = None
    """The role's output cap (a call's own ``max_tokens`` wins)."""
    router: RoleRouter | None = None
    """For routed roles: the object whose ``choose(messages)`` picks a role."""
    split: SplitEntry | None = None
    """For traffic splits: the split whose ``choose(key)`` picks the variant role."""
    variant: str | None = None
    """Set once a split's variant is chosen: the variant role whose targets this plan holds."""
    modalities: tuple[str, ...] = ()
    """The role's modalities (empty for ``provider/model``: not known, not checked)."""

    def extended(self, extra: Sequence[PlannedTarget]) -> Plan:
        """This plan with the targets of ``extra`` it does not already have appended (in order)."""
        seen = {t.key for t in self.targets}
        more: list[PlannedTarget] = []
        for t in extra:
            if t.key not in seen:
                seen.add(t.key)
                more.append(t)
        return replace(self, targets=self.targets + tuple(more)) if more else self


def strip_resource_prefix(name: str) -> str:
    """Seed 004 names roles ``llm:fast``; tierflow names them ``fast``."""
    return name[4:] if name.startswith("llm:") else name


class Planner:
    """Builds and caches plans for one config."""

    def __init__(self, config: ProjectConfig, prices: PriceTable,
                 load_router: RouterFactory | None = None, *,
                 setup: SetupClock | None = None, adhoc_plans: int = ADHOC_PLANS) -> None:
        self.config = config
        self.prices = prices
        self.setup = SetupClock() if setup is None else setup
        self._load_router = load_router
        self._plans: dict[str, Plan] = {}  # the config's roles
        self._adhoc: OrderedDict[str, Plan] = OrderedDict()  # provider/model names, least recently used first
        self._adhoc_max = adhoc_plans
        self._targets: dict[str, PlannedTarget] = {}  # the targets of the config's roles
        self._any_modality: dict[str, Plan] = {}  # roles planned for embedding calls (no chat check)

    def plan(self, name: str) -> Plan:
        """The plan of ``name`` (a role or ``provider/model``), built on first use and cached."""
        plan = self._plans.get(name)
        if plan is not None:
            return plan
        adhoc = self._adhoc
        plan = adhoc.get(name)
        if plan is not None:
            adhoc.move_to_end(name)
            return plan
        t0 = time.perf_counter()
        try:
            plan = self._build(name)
        finally:
            self.setup.spent += time.perf_counter() - t0
        if plan.role is not None:
            self._plans[name] = plan
        else:
            adhoc[name] = plan
            if len(adhoc) > self._adhoc_max:
                adhoc.popitem(last=False)
        return plan

    def plan_any_modality(self, name: str) -> Plan:
        """The plan of role ``name`` whatever its modalities (embedding calls); cached."""
        plan = self._any_modality.get(name)
        if plan is None:
            plan = self._any_modality[name] = self._build(name, chat=False)
        return plan

    def targets_for(self, names: Sequence[str]) -> list[PlannedTarget]:
        """Call-time ``fallback=``: each a role (its whole chain) or a ``provider/model``."""
        out: list[PlannedTarget] = []
        for name in names:
            plan = self.plan(name)
            if plan.router is not None or plan.split is not None:
                kind = "routed role" if plan.router is not None else "traffic split"
                raise ConfigError([Problem(f"fallback {name!r}", f"a {kind} cannot be a fallback; "
                                           "name a model role or a 'provider/model'")])
            out.extend(plan.targets)
        return out

    def _build(self, name: str, *, chat: bool = True) -> Plan:
        role = strip_resource_prefix(name)
        config = self.config
        if role in config.routed_roles:
            return Plan(name=name, role=role, targets=(), router=self._router(role))
        split = config.registry.splits.get(role)
        if split is not None:
            return Plan(name=name, role=role, targets=(), split=split)
        if role in config.registry:
            entry = config.registry.get(role, chat=chat)
            targets = tuple(self._role_target(t) for t in entry.chain)
            self._check_prices(name, targets)
            return Plan(name=name, role=entry.role if role != "primary" else "primary", targets=targets,
                        temperature=entry.temperature, system_context=entry.system_context,
                        max_tokens=entry.max_tokens, modalities=tuple(entry.modalities))
        target = parse_target(name, config)
        if target is None:
            if "/" in name:
                ref = name.partition("/")[0]
                raise ConfigError([Problem(f"target {name!r}", f"provider {ref!r} is not declared under "
                                           f"providers: (declared: {sorted(config.providers)})")],
                                  source=config.source)
            raise UnknownRoleError(name, sorted(config.roles))
        targets = (self._target(target),)
        self._check_prices(name, targets)
        return Plan(name=name, role=None, targets=targets)

    def _role_target(self, target: Target) -> PlannedTarget:
        """A target of a role's chain (shared by the roles naming it)."""
        key = f"{target.ref}/{target.model}"
        planned = self._targets.get(key)
        if planned is None:
            planned = self._targets[key] = self._target(target)
        return planned

    def _target(self, target: Target) -> PlannedTarget:
        settings = self.config.provider_settings(target.ref)
        cost = self.prices.cost_fn(target.ref, settings.kind, target.model, settings.base_url)
        return PlannedTarget(f"{target.ref}/{target.model}", target.ref, target.model, settings.kind,
                             settings.timeouts.to_timeouts(), cost)

    def _check_prices(self, name: str, targets: Sequence[PlannedTarget]) -> None:
        if not self.config.strict_cost:
            return
        unknown = [t.key for t in targets if t.cost is None]
        if unknown:
            raise PriceUnknownError(f"strict_cost is on and no price is known for {unknown} (target "
                                    f"{name!r}); add them under `prices:` in {self.config.source}")

    def _router(self, role: str) -> RoleRouter:
        if self._load_router is None:
            raise ConfigError([Problem(f"role {role!r}", "is a routed role but tierflow.routing.live is "
                                       "not available in this installation")], source=self.config.source)
        return self._load_router(self.config.routed_roles[role])


__all__ = ["ADHOC_PLANS", "Plan", "PlannedTarget", "Planner", "RoleRouter", "RouterFactory", "SetupClock",
           "strip_resource_prefix"]
