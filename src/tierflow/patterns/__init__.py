"""Multi-model patterns, usable as graph nodes and on their own.

- :class:`Router`: a cheap role classifies, a specialist role answers.
- :class:`Cascade`: cheap answers first; escalate when a confidence signal is below threshold.
- :class:`Ensemble`: several roles in parallel; majority vote or a custom aggregator.
- :class:`Verifier`: generate, check (role / schema / function), retry or escalate, bounded.
- :class:`CostGate`: refuse or downgrade a call whose estimated cost exceeds a limit.
- :class:`RoutedCascade`: run a fitted cascade router's chain live (``route fit --kind cascade``).

Every pattern returns a :class:`PatternResult` saying which model answered and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tierflow.errors import GraphBuildError, Problem
from tierflow.ir import IRModule, IRNode
from tierflow.patterns.base import PATTERN_OUTPUTS, Pattern, PatternResult
from tierflow.patterns.cascade import Cascade
from tierflow.patterns.confidence import (
    Logprobs,
    SchemaValid,
    SelfConsistency,
    Signal,
    VerifierScore,
    agreement,
    logprob_confidence,
)
from tierflow.patterns.cost_gate import CostGate, estimate_cost
from tierflow.patterns.ensemble import Ensemble
from tierflow.patterns.routed_cascade import RoutedCascade
from tierflow.patterns.router import Router
from tierflow.patterns.verifier import Verifier

PATTERNS: dict[str, type[Pattern]] = {"cascade": Cascade, "router": Router, "ensemble": Ensemble,
                                      "verifier": Verifier, "cost_gate": CostGate,
                                      "routed_cascade": RoutedCascade}


def _placeholder(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a placeholder for a flow's function, used only to read a pattern's settings")


def pattern_for_checks(config: Mapping[str, Any], *, where: str = "pattern") -> Pattern:
    """A pattern built from ``config`` for build-time checks (its settings, the roles it calls):
    the functions it names stand in as placeholders, so nothing is imported. Raises
    :class:`GraphBuildError` on bad settings."""
    return pattern_from_config(config, where=where, resolve=lambda _spec, _key: _placeholder)


def pattern_of(node: IRNode) -> Pattern:
    """A pattern node's object: its in-process one, else :func:`pattern_for_checks` of its config."""
    if isinstance(node.fn, Pattern):
        return node.fn
    return pattern_for_checks(node.config, where=f"node {node.id!r}")


CALLABLE_SETTINGS = ("classify", "classifier", "aggregate", "check")
"""Pattern settings that may name a Python function as ``"module:function"`` in a flow file."""

Resolve = Callable[[str, str], Any]
"""``(spec, setting) -> function``: how a flow's ``"module:function"`` setting becomes a function."""


def pattern_from_config(config: Mapping[str, Any], *, where: str = "pattern",
                        resolve: Resolve | None = None) -> Pattern:
    """Build a pattern from an IR node config ``{"pattern": "cascade", ...}`` (flow files).

    Settings that name Python functions (``"module:function"``) go through ``resolve``; without
    one they are refused, so code named by a flow is imported only by
    :func:`tierflow.flowfile.bind_callables` under the user's allow list (README, Security).
    """
    cfg = dict(config)
    kind = cfg.pop("pattern", None)
    cls = PATTERNS.get(str(kind))
    if cls is None:
        raise GraphBuildError([Problem(f"{where}.pattern", f"unknown pattern {kind!r}; expected one of "
                                                           f"{sorted(PATTERNS)}")])
    cfg.pop("on_error", None)
    if kind == "verifier" and "ladder" in cfg:
        ladder = cfg.pop("ladder")
        if not isinstance(ladder, list) or not ladder:
            raise GraphBuildError([Problem(f"{where}.ladder", "expected a non-empty list of roles")])
        cfg["generate"], cfg["escalate"] = ladder[0], ladder[1:]
    for key in CALLABLE_SETTINGS:
        value = cfg.get(key)
        if isinstance(value, str) and ":" in value:
            if resolve is None:
                raise GraphBuildError([Problem(f"{where}.{key}", (
                    f"names the function {value!r}, and no function is bound to it: a flow's code runs "
                    "only through tierflow.flowfile.bind_callables with the modules you allow "
                    "(README, Security)"))])
            cfg[key] = resolve(value, key)
    try:
        return cls(**cfg)
    except (TypeError, ValueError) as exc:
        raise GraphBuildError([Problem(where, f"invalid {kind} settings: {exc}")]) from exc


def bind_patterns(module: IRModule) -> IRModule:
    """Give every pattern node of ``module`` that has none its pattern object, built from its
    config (settings naming Python functions are refused: flow files bind those under the user's
    allow list, :func:`tierflow.flowfile.bind_callables`). Returns ``module``, changed in place.

    The engine runs the pattern objects it finds and does not build them itself (the engine does
    not depend on the patterns; README, layout section)."""
    for node in module.nodes:
        if node.kind == "pattern" and node.fn is None:
            node.fn = pattern_from_config(node.config, where=f"node {node.id!r}")
    return module


__all__ = [
    "CALLABLE_SETTINGS",
    "PATTERNS",
    "PATTERN_OUTPUTS",
    "Cascade",
    "CostGate",
    "Ensemble",
    "Logprobs",
    "Pattern",
    "PatternResult",
    "RoutedCascade",
    "Router",
    "SchemaValid",
    "SelfConsistency",
    "Signal",
    "Verifier",
    "VerifierScore",
    "agreement",
    "bind_patterns",
    "estimate_cost",
    "logprob_confidence",
    "pattern_for_checks",
    "pattern_from_config",
    "pattern_of",
]
