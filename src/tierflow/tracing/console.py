"""A tracer that prints each trace's tree when it ends: runs, nodes, patterns, calls, attempts,
with the model that answered, tokens, cost and latency (docs/tracing.md shows an example)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Console
from rich.tree import Tree

from tierflow.calls.events import AttemptFinished, CallFinished, RouteDecided
from tierflow.tracing.events import (
    NodeFinished,
    NodeStarted,
    PatternFinished,
    PatternStarted,
    RunFinished,
    RunStarted,
    TraceEvent,
)
from tierflow.tracing.tracer import Tracer
from tierflow.types import Usage


@dataclass(slots=True)
class _Span:
    label: str
    kind: str
    parent: str | None
    children: list[_Span] = field(default_factory=list)
    detail: str = ""
    usage: Usage | None = None
    cost_usd: float | None = None
    calls: int = 0


def _money(cost: float | None) -> str:
    return "$?" if cost is None else f"${cost:.6f}"


def _tokens(usage: Usage | None) -> str:
    return "" if usage is None else f"{usage.input_tokens}+{usage.output_tokens} tokens"


def _secs(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


class ConsoleTracer(Tracer):
    """Prints every finished trace as a tree on ``file`` (default: standard error), wrapped to
    ``width`` (default: the terminal's; lines are never wrapped in a file or pipe).

    A trace is a run, a standalone pattern, or a call made outside both (when the tracer is a
    client observer). Each run or pattern line sums the tokens and cost of the calls under it.
    """

    def __init__(self, file: IO[str] | None = None, *, width: int | None = None, tags: Iterable[str] = (),
                 session_id: str | None = None, user_id: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(tags=tags, session_id=session_id, user_id=user_id, metadata=metadata)
        self._file = file
        self._width = width
        self._open: dict[str, _Span] = {}
        self._attempts: dict[str, list[AttemptFinished]] = {}
        self._routes: dict[str, str] = {}

    def handle(self, event: TraceEvent, parent_id: str | None) -> None:
        if isinstance(event, (RunStarted, NodeStarted, PatternStarted)):
            self._start(event, parent_id)
        elif isinstance(event, AttemptFinished):
            self._attempts.setdefault(event.request_id, []).append(event)
        elif isinstance(event, RouteDecided):
            self._routes[event.request_id] = str(event.decision.get("role", "?"))
        elif isinstance(event, CallFinished):
            self._call(event, parent_id)
        elif isinstance(event, (RunFinished, NodeFinished, PatternFinished)):
            self._finish(event)

    # --- building the tree ------------------------------------------------------------------------

    def _start(self, event: RunStarted | NodeStarted | PatternStarted, parent_id: str | None) -> None:
        if isinstance(event, RunStarted):
            span = _Span(f"run {event.name}", "run", parent_id)
        elif isinstance(event, NodeStarted):
            span = _Span(f"node {event.node} ({event.kind})", "node", parent_id)
        else:
            span = _Span(f"{event.pattern} {event.name}", "pattern", parent_id)
        self._open[event.span_id] = span

    def _call(self, event: CallFinished, parent_id: str | None) -> None:
        routed = self._routes.pop(event.request_id, None)
        name = event.name if routed is None else f"{event.name} [routed to {routed}]"
        answered = event.target or "-"
        if event.variant:
            name += f" [split: {event.variant}]"
        status = "ok" if event.outcome == "ok" else f"{event.outcome} {event.error}"
        span = _Span(f"call {name} -> {answered}", "call", parent_id, usage=event.usage, cost_usd=event.cost_usd,
                     calls=1, detail=" | ".join(p for p in (status, _tokens(event.usage), _money(event.cost_usd),
                                                             _secs(event.latency_s)) if p))
        attempts = self._attempts.pop(event.request_id, [])
        if len(attempts) > 1 or event.outcome != "ok":
            for a in attempts:
                why = a.outcome if a.error is None else f"{a.outcome} {a.error}" + (
                    f" HTTP {a.status_code}" if a.status_code else "")
                span.children.append(_Span(f"attempt {a.target}", "attempt", event.request_id,
                                           detail=f"{why} | {_secs(a.duration_s)}"))
        self._attach(span, parent_id)

    def _finish(self, event: RunFinished | NodeFinished | PatternFinished) -> None:
        span = self._open.pop(event.span_id, None)
        if span is None:
            return
        usage, cost, calls = _totals(span)
        status = "ok" if event.outcome == "ok" else f"{event.outcome} {event.error}"
        parts = [status]
        if isinstance(event, PatternFinished) and event.outcome == "ok":
            parts.append(f"answered by {event.role} ({event.model_used})")
            if event.escalated:
                parts.append("escalated")
            if event.reason:
                parts.append(event.reason)
        if calls:
            parts += [f"{calls} call{'s' if calls > 1 else ''}", _tokens(usage), _money(cost)]
        parts.append(_secs(event.duration_s))
        span.detail = " | ".join(p for p in parts if p)
        span.usage, span.cost_usd, span.calls = usage, cost, calls
        self._attach(span, span.parent)

    def _attach(self, span: _Span, parent_id: str | None) -> None:
        parent = None if parent_id is None else self._open.get(parent_id)
        if parent is not None:
            parent.children.append(span)
        else:
            self._print(span)

    def _print(self, root: _Span) -> None:
        file = self._file or sys.stderr
        width = self._width or (None if file.isatty() else 10_000)  # a log file gets whole lines
        console = Console(file=file, width=width, highlight=False)
        tree = Tree(_line(root))
        _grow(tree, root)
        console.print(tree, soft_wrap=True)


def _line(span: _Span) -> str:
    text = f"{span.label}  {span.detail}" if span.detail else span.label
    return text.replace("[", r"\[")


def _grow(tree: Tree, span: _Span) -> None:
    for child in span.children:
        _grow(tree.add(_line(child)), child)


def _totals(span: _Span) -> tuple[Usage | None, float | None, int]:
    """Tokens, cost (None if any call's price is unknown) and number of calls under ``span``."""
    usage: Usage | None = None
    cost: float | None = 0.0
    calls = 0
    stack: list[Any] = list(span.children)
    while stack:
        s = stack.pop()
        if s.kind == "call":
            calls += 1
            if s.usage is not None:
                usage = s.usage if usage is None else usage + s.usage
            cost = None if cost is None or s.cost_usd is None else cost + s.cost_usd
        else:
            stack.extend(s.children)
    return usage, cost if calls else None, calls


__all__ = ["ConsoleTracer"]
