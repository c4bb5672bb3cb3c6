"""Typed events of the call layer, for ledgers, tracers and metrics.

Register an observer, any ``Callable[[CallEvent], None]``, on a client
(``Client(config, observers=[fn])`` or ``client.add_observer(fn)``); the call layer then calls it,
synchronously and in the calling task, at each of these moments. Every event has ``request_id``
and ``role``:

:class:`RouteDecided`
    a routed role chose the role that answers: ``decision`` (chosen role, predictions, runner-up).
:class:`AttemptStarted`
    a request is about to be sent: ``target`` (``ref/model``), ``provider``, ``model``,
    ``attempt`` (its index in ``CallResult.attempts``), ``wait_s`` (slept before it).
:class:`AttemptFinished`
    that attempt ended, or a target was skipped while cooling down (then with no
    ``AttemptStarted``): the same fields and ``outcome``, ``error`` (a class name),
    ``status_code``, ``duration_s``.
:class:`FirstToken`
    a stream delivered its first chunk: ``target``, ``provider``, ``model``, ``attempt``,
    ``ttft_s``.
:class:`CallFinished`
    the call ended: ``name`` (as called), ``outcome`` (``ok``, ``error``, ``cancelled``), the
    ``target``, ``provider`` and ``model`` of its last attempt, ``error``, ``status_code``,
    ``usage``, ``cost_usd``, ``latency_s``, ``ttft_s``, ``setup_s``, ``attempts``, ``decision``,
    ``stream``, ``variant`` (a traffic split's variant role, else None); ``request`` and ``result``
    (the request sent and the answer, left out of ``repr``: tracers export their content only on
    opt-in, docs/tracing.md).

Every call emits exactly one :class:`CallFinished`, last, whatever its end (an answer, an error,
a cancellation, a stream abandoned early, a role that does not exist); every
:class:`AttemptStarted` is followed by its :class:`AttemptFinished`. ``request_id`` is the
caller's ``request_id=`` or a generated one (also ``CallResult.request_id``); ``role`` is the
role called (None for a ``provider/model`` call). Times are seconds; ``error`` is a class name,
never a message, so no event carries a secret. The README's "Calls" section has the same table.

An observer must be quick and must not raise: an exception it raises is logged and the next
observer still gets the event. With no observer registered no event object is built (each event
point checks an empty list), which ``bench/bench_calls.py`` measures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tierflow.types import Attempt, AttemptOutcome, CallResult, ChatRequest, Usage

_log = logging.getLogger("tierflow.calls")


@dataclass(frozen=True, slots=True)
class RouteDecided:
    """A routed role chose the role that will answer."""

    request_id: str
    role: str | None
    decision: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """One request to one target is about to be sent."""

    request_id: str
    role: str | None
    target: str
    """``"ref/model"``: the breaker's key and ``Attempt.target``."""
    provider: str
    model: str
    attempt: int
    """The attempt's index in the call's ``attempts``."""
    wait_s: float
    """Seconds slept before it (a retry's backoff or ``Retry-After``; 0 for a target's first)."""


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """One attempt ended, or a cooling target was skipped (``outcome == "skipped_cooldown"``)."""

    request_id: str
    role: str | None
    target: str
    provider: str
    model: str
    attempt: int
    outcome: AttemptOutcome
    error: str | None
    """The error's class name (``RateLimitError``...); None for ``ok``."""
    status_code: int | None
    wait_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class FirstToken:
    """A stream delivered its first chunk (the call is now committed to this target)."""

    request_id: str
    role: str | None
    target: str
    provider: str
    model: str
    attempt: int
    ttft_s: float
    """Seconds from the call's start (set-up excluded) to the first chunk."""


CallOutcome = Literal["ok", "error", "cancelled"]


@dataclass(frozen=True, slots=True)
class CallFinished:
    """The call ended: its answer's record, or the error that ended it."""

    request_id: str
    name: str
    """What the caller asked for: a role, ``llm:<role>`` or ``provider/model``."""
    role: str | None
    outcome: CallOutcome
    target: str | None
    """The target that answered (or was answering when the call ended); None if none did."""
    provider: str | None
    model: str | None
    error: str | None
    """The class name of the error that ended the call (``AllTargetsFailedError``...)."""
    status_code: int | None
    usage: Usage | None
    cost_usd: float | None
    """None when no answer was billed or the model's price is unknown."""
    latency_s: float
    """From the call's start to its end, one-time set-up excluded (see ``setup_s``)."""
    ttft_s: float | None
    setup_s: float
    """One-time set-up paid by this call: building its plan (price look-up), creating a provider."""
    attempts: tuple[Attempt, ...]
    decision: dict[str, Any] | None
    stream: bool
    variant: str | None = None
    """For a traffic split (``role`` is the split): the variant role chosen; None otherwise."""
    request: ChatRequest | None = field(default=None, repr=False, compare=False)
    """The request sent (its parameters for traces; its messages are exported only on opt-in)."""
    result: CallResult | None = field(default=None, repr=False, compare=False)
    """The answer, when there is one (a tracer exports its text only on opt-in)."""


CallEvent = RouteDecided | AttemptStarted | AttemptFinished | FirstToken | CallFinished
Observer = Callable[[CallEvent], None]


def refused(observers: Sequence[Observer], request_id: str, name: str, error: BaseException, latency_s: float,
            stream: bool) -> None:
    """Emit the :class:`CallFinished` of a call that ended before its first attempt (an unknown role...)."""
    outcome: CallOutcome = "error" if isinstance(error, Exception) else "cancelled"
    emit(observers, CallFinished(request_id, name, None, outcome, None, None, None, type(error).__name__,
                                 getattr(error, "status_code", None), None, None, latency_s, None, 0.0, (), None,
                                 stream))


def emit(observers: Sequence[Observer], event: CallEvent) -> None:
    """Give ``event`` to every observer; one that raises is logged and skipped."""
    for observer in observers:
        try:
            observer(event)
        except Exception:  # an observer's bug must not fail the call it observes
            _log.exception("call-event observer %r failed on %s", observer, type(event).__name__)


__all__ = ["RouteDecided", "AttemptStarted", "AttemptFinished", "FirstToken", "CallFinished", "CallOutcome",
           "CallEvent", "Observer", "emit", "refused"]
