"""The retry/fallback walk over a plan's targets, shared by plain calls and streams.

A caller loops ``tries.next()``, makes one attempt with ``tries.provider`` / ``tries.timeouts``
and either reports ``tries.succeeded()`` or hands the failure to ``await tries.failed(error)``.
:class:`Tries` skips targets whose breaker is open, bounds each attempt by the call's deadline,
records every :class:`~tierflow.types.Attempt` (and emits its events), sleeps before a retry,
moves on to the next target and raises :class:`~tierflow.errors.AllTargetsFailedError` when
none is left.

It works with the collaborators in :class:`CallSeams` (breakers, retry policy, provider lookup,
cost function, observers), never with the whole client.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from tierflow.calls.events import AttemptFinished, AttemptStarted, CallFinished, CallOutcome, Observer, emit
from tierflow.calls.retry import counts_as_failure, falls_back
from tierflow.errors import AllTargetsFailedError, APITimeoutError, DeadlineExceededError, ProviderError
from tierflow.providers.base import Timeouts
from tierflow.types import Attempt, AttemptOutcome, CallResult, ChatRequest, TokenLogprob, Usage

if TYPE_CHECKING:
    from tierflow.calls.cooldown import CircuitBreakers
    from tierflow.calls.plan import Plan, PlannedTarget, SetupClock
    from tierflow.calls.retry import RetryPolicy
    from tierflow.providers.base import Provider

_perf = time.perf_counter
_log = logging.getLogger("tierflow.calls")
_ID_PREFIX = os.urandom(4).hex() + "-"
_ids = itertools.count(1)


def new_request_id() -> str:
    """A request id unique in this process and, with a random prefix, across processes: ``9f2c1a7e-42``."""
    return _ID_PREFIX + str(next(_ids))


@dataclass(frozen=True, slots=True)
class CallSeams:
    """What the attempt loop and the stream relay need from a client, and nothing else."""

    breakers: CircuitBreakers
    retry: RetryPolicy
    provider: Callable[[str], Provider]
    """The provider of a name for the running loop; raises ``ClientClosedError`` once the client is closed."""
    cost: Callable[[PlannedTarget, Usage], float | None]
    """A target's cost of ``usage`` (None when its price is unknown)."""
    observers: list[Observer]
    """The client's observers (the same list: observers added later are seen)."""
    setup: SetupClock
    """One-time set-up time spent so far (plans built, providers created): excluded from latency."""


def attempt_timeouts(t: Timeouts, deadline: float | None, now: float) -> tuple[Timeouts, float] | None:
    """An attempt's timeouts ``t`` starting ``now``, shrunk to the call's deadline, and the attempt's
    absolute end (perf clock); None when the deadline has passed."""
    if deadline is None:
        return t, now + t.total
    left = deadline - now
    if left <= 0:
        return None
    if left >= t.total:
        return t, now + t.total
    return Timeouts(min(t.connect, left), left, min(t.stream_idle, left)), deadline


class Tries:
    """One call's attempts: the current target, its provider, timeouts and the records so far."""

    __slots__ = ("seams", "plan", "request", "request_id", "started", "deadline", "setup_s", "attempts", "last",
                 "current", "target", "key", "ticket", "provider", "timeouts", "ends", "wait", "t0",
                 "_retry_index", "_targets", "_move_on")

    def __init__(self, seams: CallSeams, plan: Plan, request: ChatRequest, request_id: str, started: float,
                 deadline: float | None, setup_s: float) -> None:
        self.seams = seams
        self.plan = plan
        self.request = request
        self.request_id = request_id
        self.started = started
        self.deadline = deadline
        self.setup_s = setup_s  # one-time set-up paid by this call so far
        self.attempts: list[Attempt] = []
        self.last: ProviderError | None = None
        self.current: PlannedTarget | None = None  # the target of the last attempt made
        self._targets: Iterator[PlannedTarget] = iter(plan.targets)
        self._move_on = True
        # set by next(): the current attempt's target, its key, breaker ticket, provider and timeouts
        self.target: PlannedTarget
        self.key: str
        self.ticket: int
        self.provider: Provider
        self.timeouts: Timeouts
        self.ends: float  # the attempt's absolute end (perf clock): its total timeout or the deadline
        self.wait: float  # seconds waited before this attempt (0 for a target's first)
        self.t0: float  # when it started (perf clock)
        self._retry_index: int

    # --- one attempt's life -------------------------------------------------------------------------

    def next(self) -> PlannedTarget:
        """Set up the next attempt: the same target after a retry wait, else the next one allowed."""
        seams = self.seams
        ticket = None if self._move_on else seams.breakers.allow(self.key)
        if ticket is None:
            if not self._move_on:  # other calls opened its breaker while this one waited to retry
                self._skipped(self.target)
            target, ticket = self._next_target()
        else:
            target = self.target
        self.ticket = ticket
        self.current = target
        try:
            setup = seams.setup.spent
            self.provider = seams.provider(target.provider)
            self.setup_s += seams.setup.spent - setup
        except BaseException:  # a closed client, a provider that cannot be created: no verdict on the target
            seams.breakers.release(self.key, ticket)
            raise
        self.t0 = now = _perf()
        limits = attempt_timeouts(target.timeouts, self.deadline, now)
        if limits is None:
            seams.breakers.release(self.key, ticket)
            raise self.deadline_error() from self.last
        self.timeouts, self.ends = limits
        if seams.observers:
            emit(seams.observers, AttemptStarted(self.request_id, self.plan.role, self.key, target.provider,
                                                 target.model, len(self.attempts), self.wait))
        return target

    def succeeded(self) -> None:
        """Close the target's breaker and record the attempt as ``ok``."""
        self.seams.breakers.record_success(self.key, self.ticket)
        self._finish("ok")

    def cancelled(self) -> None:
        """The attempt ended without a verdict on the target (cancelled, or an exception that is not
        a provider error): record it as ``cancelled`` and give back the breaker's ticket (and probe),
        so that the target is not skipped for good."""
        self.seams.breakers.release(self.key, self.ticket)
        self._finish("cancelled")

    def interrupted(self, error: str, status_code: int | None) -> None:
        """A committed stream failed after its first chunk: the target failed, record the attempt."""
        self.seams.breakers.record_failure(self.key, self.ticket)
        self._finish("error", error, status_code)

    def deadline_ran_out(self, cause: BaseException) -> NoReturn:
        """Record the attempt as an ``error`` named ``DeadlineExceededError`` and raise the call's
        deadline error.

        The call's deadline says nothing about the target's health: its breaker only gets the
        ticket back.
        """
        self.seams.breakers.release(self.key, self.ticket)
        self._finish("error", "DeadlineExceededError", None)
        raise self.deadline_error() from cause

    async def failed(self, error: ProviderError) -> None:
        """Record the failed attempt; sleep before a retry, move on to the next target or raise.

        A timeout of an attempt that the deadline bounded ends the call: its deadline ran out.
        """
        if self.ends == self.deadline and isinstance(error, APITimeoutError):
            self.deadline_ran_out(error)
        wait = self._after_failure(error)
        self._finish("error", type(error).__name__, error.status_code)
        self.last = error
        if wait is None:
            if not falls_back(error):
                error.attempts = self.attempts
                raise error
            self._move_on = True
            return
        await asyncio.sleep(wait)
        self.wait = wait
        self._retry_index += 1

    # --- the call's end -----------------------------------------------------------------------------

    def deadline_error(self) -> DeadlineExceededError:
        attempts = self.attempts
        return DeadlineExceededError(
            f"the deadline ran out after {_perf() - self.started:.3f}s for {self.plan.name!r} ({len(attempts)} "
            "attempt(s): " + ", ".join(f"{a.target} {a.outcome}" for a in attempts) + ")", attempts=attempts)

    def result(self, text: str, usage: Usage, finish_reason: str | None, logprobs: list[TokenLogprob] | None,
               ttft_s: float | None, decision: dict[str, Any] | None,
               tool_calls: list[dict[str, Any]] | None = None) -> CallResult:
        """The call's result from the current (successful) target."""
        target = self.target
        latency = _perf() - self.started - self.setup_s
        return CallResult(text, self.key, target.provider, self.plan.role, usage, self.seams.cost(target, usage),
                          latency, ttft_s, self.attempts, finish_reason, logprobs, decision, self.setup_s,
                          self.request_id, self.plan.variant, tool_calls)

    def call_finished(self, result: CallResult | None, error: BaseException | None, ttft_s: float | None,
                      decision: dict[str, Any] | None, stream: bool) -> None:
        """Emit the call's :class:`~tierflow.calls.events.CallFinished` (observers are registered)."""
        target = self.current
        if result is not None:
            outcome: CallOutcome = "ok"
            usage, cost, latency = result.usage, result.cost_usd, result.latency_s
        else:
            outcome = "error" if isinstance(error, Exception) else "cancelled"
            usage, cost, latency = None, None, _perf() - self.started - self.setup_s
        emit(self.seams.observers, CallFinished(
            self.request_id, self.plan.name, self.plan.role, outcome, None if target is None else target.key,
            None if target is None else target.provider, None if target is None else target.model,
            None if error is None else type(error).__name__, _status_code(error), usage, cost,
            latency, ttft_s, self.setup_s, tuple(self.attempts), decision, stream, self.plan.variant,
            self.request, result))

    # --- internals ----------------------------------------------------------------------------------

    def _next_target(self) -> tuple[PlannedTarget, int]:
        breakers = self.seams.breakers
        for target in self._targets:
            ticket = breakers.allow(target.key)
            if ticket is not None:
                break
            self._skipped(target)
        else:
            raise self._all_failed() from self.last
        self._move_on = False
        self.target = target
        self.key = target.key
        self.request.model = target.model
        self._retry_index = 0
        self.wait = 0.0
        return target, ticket

    def _after_failure(self, error: ProviderError) -> float | None:
        """Give the breaker its verdict; return seconds to wait before a retry, or None to move on."""
        breakers = self.seams.breakers
        key = self.key
        if counts_as_failure(error):
            breakers.record_failure(key, self.ticket)
            if breakers.is_open(key):
                return None
        else:
            breakers.release(key, self.ticket)
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s failed: %s (status %s)", key, type(error).__name__, error.status_code)
        wait = self.seams.retry.wait_before_retry(error, self._retry_index)
        if wait is not None and self.deadline is not None and _perf() + wait >= self.deadline:
            return None
        return wait

    def _finish(self, outcome: AttemptOutcome, error: str | None = None, status_code: int | None = None) -> None:
        """Record the current attempt's ``outcome`` (it lasted until now) and emit its event."""
        duration = _perf() - self.t0
        self.attempts.append(Attempt(self.key, outcome, error, status_code, self.wait, duration))
        if self.seams.observers:
            target = self.target
            emit(self.seams.observers, AttemptFinished(
                self.request_id, self.plan.role, self.key, target.provider, target.model, len(self.attempts) - 1,
                outcome, error, status_code, self.wait, duration))

    def _skipped(self, target: PlannedTarget) -> None:
        self.attempts.append(Attempt(target.key, "skipped_cooldown"))
        if self.seams.observers:
            emit(self.seams.observers, AttemptFinished(
                self.request_id, self.plan.role, target.key, target.provider, target.model, len(self.attempts) - 1,
                "skipped_cooldown", None, None, 0.0, 0.0))

    def _all_failed(self) -> AllTargetsFailedError:
        breakers = self.seams.breakers
        keys = [t.key for t in self.plan.targets]
        retry_after = None
        if keys and all(breakers.is_open(k) for k in keys):
            retry_after = min(breakers.remaining(k) for k in keys)
        return AllTargetsFailedError(self.plan.name, self.attempts, self.last, retry_after_s=retry_after)





def _status_code(error: BaseException | None) -> int | None:
    """The HTTP status that ended a call: its error's, or the last failed attempt's."""
    if isinstance(error, AllTargetsFailedError):
        error = error.last_error
    return error.status_code if isinstance(error, ProviderError) else None


async def complete(tries: Tries, decision: dict[str, Any] | None) -> CallResult:
    """A plain (not streamed) call: attempts until one answers; its result."""
    loop = asyncio.get_running_loop()
    request = tries.request
    while True:
        target = tries.next()
        provider = tries.provider
        timeouts = tries.timeouts
        # HTTP providers enforce timeouts.total themselves: a second timer would only cost CPU
        scope = None if provider.enforces_timeouts else asyncio.timeout_at(loop.time() + (tries.ends - tries.t0))
        try:
            if scope is None:
                response = await provider.complete(request, timeouts=timeouts)
            else:
                async with scope:
                    response = await provider.complete(request, timeouts=timeouts)
        except ProviderError as exc:
            error: ProviderError = exc
        except TimeoutError:
            if scope is None or not scope.expired():
                tries.cancelled()
                raise
            error = APITimeoutError(f"no answer within {timeouts.total:g}s", target=target.key)
        except BaseException:  # cancelled, or a provider's own bug: its probe must not stay claimed
            tries.cancelled()
            raise
        else:
            tries.succeeded()
            return tries.result(response.text, response.usage, response.finish_reason, response.logprobs, None,
                                decision, response.tool_calls)
        await tries.failed(error)

__all__ = ["CallSeams", "Tries", "attempt_timeouts", "complete", "new_request_id"]
