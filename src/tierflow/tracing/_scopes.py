"""Traced spans of the engine and the patterns: open a frame, emit start/finish, wrap node executors.

The engine calls :func:`traced_run` only when a run is traced (``tracer=`` given, or the run is
nested in a traced span); an untraced run never reaches this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from tierflow.tracing.events import (
    NodeFinished,
    NodeStarted,
    Outcome,
    PatternFinished,
    PatternStarted,
    RunFinished,
    RunStarted,
)
from tierflow.tracing.tracer import Frame, Tracer, _frame, attachments, emit, new_span_id, tracers_for

if TYPE_CHECKING:
    from tierflow.engine.engine import Engine
    from tierflow.engine.plan import ExecutionPlan as Plan
    from tierflow.patterns.base import Pattern, PatternResult
    from tierflow.types import Message

Schedule = Callable[[dict[str, Any], list[Any]], Awaitable[Any]]


def _outcome(exc: BaseException) -> Outcome:
    return "error" if isinstance(exc, Exception) else "cancelled"


async def traced_run(engine: Engine, tracer: Tracer | Sequence[Tracer] | None, run_inputs: dict[str, Any],
                     schedule: Schedule) -> Any:
    """Run ``schedule`` (the engine's scheduler) inside a run span, with every node executor traced."""
    outer = _frame.get()
    tracers = tracers_for(tracer, outer)
    parent = None if outer is None else outer.span_id
    run_id = new_span_id()
    client = engine._client
    if client is not None:
        attachments.attach(client, tracers)
    emit(tracers, RunStarted(run_id, engine.name, tuple(run_inputs)), parent)
    token = _frame.set(Frame(run_id, tracers))
    t0 = perf_counter()
    try:
        result = await schedule(run_inputs, _traced_executors(engine.plan, run_id, tracers))
    except BaseException as exc:
        emit(tracers, RunFinished(run_id, engine.name, _outcome(exc), type(exc).__name__, perf_counter() - t0),
             parent)
        raise
    finally:
        _frame.reset(token)
        if client is not None:
            attachments.detach(client)
    emit(tracers, RunFinished(run_id, engine.name, "ok", None, perf_counter() - t0, result), parent)
    return result


def _traced_executors(plan: Plan, run_id: str, tracers: tuple[Tracer, ...]) -> list[Any]:
    from tierflow.engine.plan import ASYNC, SYNC

    out: list[Any] = []
    for i, ex in enumerate(plan.executors):
        mode = plan.modes[i]
        if ex is None or mode not in (SYNC, ASYNC):
            out.append(ex)
            continue
        node = _NodeSpan(run_id, plan.ids[i], plan.kinds[i], tracers)
        out.append(node.wrap_sync(ex) if mode == SYNC else node.wrap_async(ex))
    return out


class _NodeSpan:
    """Emits a node's start and finish around its executor, with the node's frame set meanwhile."""

    def __init__(self, run_id: str, node: str, kind: str, tracers: tuple[Tracer, ...]) -> None:
        self.run_id, self.node, self.kind, self.tracers = run_id, node, kind, tracers
        self.span_id = f"{run_id}/{node}"
        self.frame = Frame(self.span_id, tracers)

    def started(self) -> float:
        emit(self.tracers, NodeStarted(self.span_id, self.run_id, self.node, self.kind), self.run_id)
        return perf_counter()

    def finished(self, t0: float, out: Any, exc: BaseException | None) -> None:
        d = perf_counter() - t0
        if exc is not None:
            event = NodeFinished(self.span_id, self.run_id, self.node, self.kind, _outcome(exc),
                                 type(exc).__name__, d)
        elif isinstance(out, Mapping) and self.kind in ("llm", "pattern"):
            event = NodeFinished(self.span_id, self.run_id, self.node, self.kind, "ok", None, d,
                                 out.get("model_used"), out.get("usage"), out.get("cost_usd"))
        else:
            event = NodeFinished(self.span_id, self.run_id, self.node, self.kind, "ok", None, d)
        emit(self.tracers, event, self.run_id)

    def wrap_sync(self, ex: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        def run(inputs: dict[str, Any]) -> Any:
            t0 = self.started()
            token = _frame.set(self.frame)
            try:
                out = ex(inputs)
            except BaseException as exc:
                self.finished(t0, None, exc)
                raise
            finally:
                _frame.reset(token)
            if inspect.isawaitable(out):
                return self._finish_later(t0, out)
            self.finished(t0, out, None)
            return out
        return run

    async def _finish_later(self, t0: float, awaitable: Awaitable[Any]) -> Any:
        token = _frame.set(self.frame)
        try:
            out = await awaitable
        except BaseException as exc:
            self.finished(t0, None, exc)
            raise
        finally:
            _frame.reset(token)
        self.finished(t0, out, None)
        return out

    def wrap_async(self, ex: Callable[[dict[str, Any], Any], Awaitable[Any]]
                   ) -> Callable[[dict[str, Any], Any], Awaitable[Any]]:
        async def run(inputs: dict[str, Any], engine: Any) -> Any:
            return await self._finish_later(self.started(), ex(inputs, engine))
        return run


async def traced_pattern(pattern: Pattern, tracer: Tracer | Sequence[Tracer] | None, messages: list[Message],
                         client: Any) -> PatternResult:
    """Run ``pattern`` inside a pattern span; its calls become the span's children."""
    outer = _frame.get()
    tracers = tracers_for(tracer, outer)
    if not tracers:
        return await pattern._run(messages, client)
    parent = None if outer is None else outer.span_id
    span_id = new_span_id()
    kind = pattern.pattern_name
    attach = hasattr(client, "add_observer")
    if attach:
        attachments.attach(client, tracers)
    emit(tracers, PatternStarted(span_id, pattern.name, kind), parent)
    token = _frame.set(Frame(span_id, tracers))
    t0 = perf_counter()
    try:
        result = await pattern._run(messages, client)
    except BaseException as exc:
        emit(tracers, PatternFinished(span_id, pattern.name, kind, _outcome(exc), type(exc).__name__,
                                      perf_counter() - t0), parent)
        raise
    finally:
        _frame.reset(token)
        if attach:
            attachments.detach(client)
    emit(tracers, PatternFinished(span_id, pattern.name, kind, "ok", None, perf_counter() - t0, result.role,
                                  result.model_used, result.reason, result.confidence, result.escalated,
                                  len(result.calls), result.usage, result.cost_usd), parent)
    return result


__all__ = ["traced_pattern", "traced_run"]
