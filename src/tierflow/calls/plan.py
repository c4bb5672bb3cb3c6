"""Resolving what a call names (a role, a ``provider/model``, a routed role) into targets to try.

A :class:`Plan` is computed once per name and cached by the client, so the hot path pays for
neither registry look-ups nor price look-ups: each :class:`PlannedTarget` carries its provider
name, timeouts and cost function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tierflow.config import ProjectConfig, parse_target
from tierflow.errors import ConfigError, PriceUnknownError, Problem, UnknownRoleError
from tierflow.pricing import CostFn, PriceTable
from tierflow.providers.base import Timeouts
from tierflow.registry import Target


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
    router: Any = None
    """For routed roles: the object whose ``choose(messages)`` picks a role (contract 2)."""

    def extended(self, extra: Sequence[PlannedTarget]) -> Plan:
        seen = {t.key for t in self.targets}
        more = tuple(t for t in extra if t.key not in seen and not seen.add(t.key))  # type: ignore[func-returns-value]
        return replace(self, targets=self.targets + more) if more else self


def strip_resource_prefix(name: str) -> str:
    """Seed 004 names roles ``llm:fast``; tierflow names them ``fast``."""
    return name[4:] if name.startswith("llm:") else name


class Planner:
    """Builds and caches plans for one config."""

    def __init__(self, config: ProjectConfig, prices: PriceTable,
                 load_router: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.config = config
        self.prices = prices
        self._load_router = load_router
        self._plans: dict[str, Plan] = {}
        self._targets: dict[str, PlannedTarget] = {}

    def plan(self, name: str) -> Plan:
        plan = self._plans.get(name)
        if plan is None:
            plan = self._plans[name] = self._build(name)
        return plan

    def targets_for(self, names: Sequence[str]) -> list[PlannedTarget]:
        """Call-time ``fallback=``: each a role (its whole chain) or a ``provider/model``."""
        out: list[PlannedTarget] = []
        for name in names:
            plan = self.plan(name)
            if plan.router is not None:
                raise ConfigError([Problem(f"fallback {name!r}", "a routed role cannot be a fallback; "
                                           "name a model role or a 'provider/model'")])
            out.extend(plan.targets)
        return out

    def _build(self, name: str) -> Plan:
        role = strip_resource_prefix(name)
        config = self.config
        if role in config.routed_roles:
            return Plan(name=name, role=role, targets=(), router=self._router(role))
        if role in config.registry:
            entry = config.registry.get(role)
            targets = tuple(self._target(t) for t in entry.chain)
            self._check_prices(name, targets)
            return Plan(name=name, role=entry.role if role != "primary" else "primary", targets=targets,
                        temperature=entry.temperature, system_context=entry.system_context)
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

    def _target(self, target: Target) -> PlannedTarget:
        key = f"{target.ref}/{target.model}"
        planned = self._targets.get(key)
        if planned is None:
            settings = self.config.provider_settings(target.ref)
            cost = self.prices.cost_fn(target.ref, settings.kind, target.model, settings.base_url)
            planned = self._targets[key] = PlannedTarget(key, target.ref, target.model, settings.kind,
                                                         settings.timeouts.to_timeouts(), cost)
        return planned

    def _check_prices(self, name: str, targets: Sequence[PlannedTarget]) -> None:
        if not self.config.strict_cost:
            return
        unknown = [t.key for t in targets if t.cost is None]
        if unknown:
            raise PriceUnknownError(f"strict_cost is on and no price is known for {unknown} (target "
                                    f"{name!r}); add them under `prices:` in {self.config.source}")

    def _router(self, role: str) -> Any:
        if self._load_router is None:
            raise ConfigError([Problem(f"role {role!r}", "is a routed role but tierflow.routing.live is "
                                       "not available in this installation")], source=self.config.source)
        return self._load_router(self.config.routed_roles[role])


__all__ = ["Plan", "PlannedTarget", "Planner", "strip_resource_prefix"]
