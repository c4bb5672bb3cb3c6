"""Typed events of the engine and the patterns, beside the call layer's (:mod:`tierflow.calls.events`).

A tracer receives all of them through :meth:`tierflow.tracing.Tracer.handle` with the id of the
span they happen in (``parent_id``), so it can rebuild a run's tree: run -> nodes -> patterns ->
calls -> attempts. Every span has a ``span_id``: a run's is its ``run_id``, a node's
``"{run_id}/{node}"``, a pattern's a fresh id, a call's its ``request_id`` (its attempts are the
call's :class:`~tierflow.calls.events.AttemptStarted` / ``AttemptFinished`` events). Times are
seconds; ``error`` is a class name, never a message (no event carries a secret). See
docs/tracing.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tierflow.calls.events import CallEvent
from tierflow.types import Usage

Outcome = Literal["ok", "error", "cancelled"]


@dataclass(frozen=True, slots=True)
class RunStarted:
    """An engine run began (``invoke_workflow {name}``)."""

    span_id: str
    name: str
    inputs: tuple[str, ...]
    """The names of the run's inputs (never their values)."""


@dataclass(frozen=True, slots=True)
class RunFinished:
    """An engine run ended; ``result`` is its :class:`~tierflow.engine.RunResult` when it succeeded."""

    span_id: str
    name: str
    outcome: Outcome
    error: str | None
    duration_s: float
    result: Any = None


@dataclass(frozen=True, slots=True)
class NodeStarted:
    """A node of a run began (prompt, code, LLM or pattern node)."""

    span_id: str
    run_id: str
    node: str
    kind: str


@dataclass(frozen=True, slots=True)
class NodeFinished:
    """A node ended; for LLM and pattern nodes, the model that answered and what it cost."""

    span_id: str
    run_id: str
    node: str
    kind: str
    outcome: Outcome
    error: str | None
    duration_s: float
    model_used: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class PatternStarted:
    """A pattern (cascade, router, ensemble...) began, as a node or standalone."""

    span_id: str
    name: str
    pattern: str


@dataclass(frozen=True, slots=True)
class PatternFinished:
    """A pattern ended with its decision: who answered (``role``, ``model_used``), why (``reason``),
    how sure (``confidence``), whether it escalated, and what all its calls cost."""

    span_id: str
    name: str
    pattern: str
    outcome: Outcome
    error: str | None
    duration_s: float
    role: str | None = None
    model_used: str | None = None
    reason: str | None = None
    confidence: float | None = None
    escalated: bool = False
    calls: int = 0
    usage: Usage | None = None
    cost_usd: float | None = None


EngineEvent = RunStarted | RunFinished | NodeStarted | NodeFinished | PatternStarted | PatternFinished
TraceEvent = CallEvent | EngineEvent

__all__ = ["EngineEvent", "NodeFinished", "NodeStarted", "Outcome", "PatternFinished", "PatternStarted",
           "RunFinished", "RunStarted", "TraceEvent"]
