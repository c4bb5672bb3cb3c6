"""The tracer API: what a tracer is, and how events find the tracers of the run they belong to.

A tracer is a :class:`Tracer` (subclass it and override :meth:`Tracer.handle`). Hand it to a run
(``await engine.run(inputs, tracer=t)``), a standalone pattern (``await cascade.run(q, tracer=t)``)
or a client (``Client(config, observers=[t])`` / ``client.add_observer(t)``: a tracer is a call
observer too). Its ``tags``, ``session_id``, ``user_id`` and ``metadata`` go on every trace it
records. Which run, node or pattern a call belongs to travels in a context variable
(:func:`current_frame`), so concurrent runs on one client never mix, and nothing is built or looked
up when nothing traces (docs/tracing.md has the overhead figures).
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from tierflow import _trace_frame
from tierflow.calls.events import CallEvent
from tierflow.tracing.events import TraceEvent

_log = logging.getLogger("tierflow.tracing")


class Tracer:
    """Receives every event of what it traces, with the id of the span each happens in.

    ``tags`` (labels such as ``"multi-model"``), ``session_id`` and ``user_id`` (to group traces
    by conversation or by user) and ``metadata`` (string values) are recorded with each trace.
    A tracer must be quick and must not raise (an exception it raises is logged and skipped).
    """

    def __init__(self, *, tags: Iterable[str] = (), session_id: str | None = None, user_id: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> None:
        self.tags: tuple[str, ...] = tuple(tags)
        self.session_id = session_id
        self.user_id = user_id
        self.metadata: dict[str, str] = dict(metadata or {})

    def handle(self, event: TraceEvent, parent_id: str | None) -> None:
        """One event; ``parent_id`` is the span it happened in (None at the top of a trace)."""

    def flush(self) -> None:
        """Send what is buffered (exporting tracers); a no-op by default."""

    def bind(self, client: Any) -> None:
        """Learn about ``client`` (its providers' kinds and hosts); traced runs and patterns call it."""

    traces_requests = False
    """Does :meth:`request_span` make spans? (A server asks once, and wraps requests only then.)"""

    def request_span(self, method: str, route: str | None, path: str,
                     headers: Mapping[str, str]) -> RequestSpan | None:
        """A span for one HTTP request a server handles (the gateway's), current while it is open, so
        that the spans of the calls made for the request are its children. None: this tracer makes none."""
        return None

    def __call__(self, event: CallEvent) -> None:
        """As a client observer: trace calls made outside a traced run (a traced run delivers its own)."""
        frame = _frame.get()
        if frame is not None and self in frame.tracers:
            return
        _deliver(self, event, None if frame is None else frame.span_id)


class RequestSpan(Protocol):
    """An HTTP request's span: entered when the request arrives, ended when it leaves."""

    def __enter__(self) -> RequestSpan: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None: ...

    def finish(self, status: int, request_id: str | None) -> None:
        """The answer's HTTP status and the gateway's ``x-request-id`` (before the span is left)."""


@dataclass(frozen=True, slots=True)
class Frame:
    """Where events happen now: the innermost traced span and the tracers listening."""

    span_id: str
    tracers: tuple[Tracer, ...]


_frame = _trace_frame.frame


def current_frame() -> Frame | None:
    """The innermost traced span of this task (None when nothing traces)."""
    return cast("Frame | None", _frame.get())


def new_span_id() -> str:
    return uuid.uuid4().hex[:16]


def tracers_for(tracer: Tracer | Sequence[Tracer] | None, outer: Frame | None) -> tuple[Tracer, ...]:
    """The tracers of a new span: those given, plus those of the span it is nested in."""
    given: tuple[Any, ...] = () if tracer is None else (
        tuple(tracer) if isinstance(tracer, (list, tuple)) else (tracer,))
    for t in given:
        if not isinstance(t, Tracer):
            raise TypeError(f"tracer= takes a tierflow.tracing.Tracer (or a list of them), got {type(t).__name__}")
    if outer is None:
        return given
    return outer.tracers + tuple(t for t in given if t not in outer.tracers)


def emit(tracers: Sequence[Tracer], event: TraceEvent, parent_id: str | None) -> None:
    """Give ``event`` to every tracer; one that raises is logged and skipped."""
    for t in tracers:
        _deliver(t, event, parent_id)


def _deliver(tracer: Tracer, event: TraceEvent, parent_id: str | None) -> None:
    try:
        tracer.handle(event, parent_id)
    except Exception:  # a tracer's bug must not fail what it traces
        _log.exception("tracer %r failed on %s", tracer, type(event).__name__)


def _bind(tracer: Tracer, client: Any) -> None:
    try:
        tracer.bind(client)
    except Exception:  # a tracer's bug must not fail what it traces
        _log.exception("tracer %r failed to bind a client", tracer)


def _dispatch(event: CallEvent) -> None:
    """The client observer of traced runs: hands a call event to the tracers of the span it is in."""
    frame = _frame.get()
    if frame is not None:
        for t in frame.tracers:
            _deliver(t, event, frame.span_id)


class _Attachments:
    """Counts the traced spans open on each client; the dispatcher is registered while any is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def attach(self, client: Any, tracers: Sequence[Tracer] = ()) -> None:
        for t in tracers:
            _bind(t, client)
        with self._lock:
            n = self._count.get(client, 0)
            self._count[client] = n + 1
            if n == 0:
                client.add_observer(_dispatch)

    def detach(self, client: Any) -> None:
        with self._lock:
            n = self._count.get(client, 0) - 1
            if n > 0:
                self._count[client] = n
                return
            self._count.pop(client, None)
            if n == 0:
                try:
                    client.remove_observer(_dispatch)
                except ValueError:
                    pass


attachments = _Attachments()

__all__ = ["Frame", "RequestSpan", "Tracer", "attachments", "current_frame", "emit", "new_span_id", "tracers_for"]
