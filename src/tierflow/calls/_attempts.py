"""The retry/fallback walk over a plan's targets, shared by plain calls and streams.

A caller loops ``tries.next()``, makes one attempt with ``tries.provider`` / ``tries.timeouts``
and either returns or hands the failure to ``await tries.failed(error)``. :class:`Tries` skips
targets whose breaker is open, bounds each attempt by the call's deadline, records every
:class:`~tierflow.types.Attempt`, sleeps before a retry, moves on to the next target and raises
:class:`~tierflow.errors.AllTargetsFailedError` when none is left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

from tierflow.calls.retry import falls_back
from tierflow.errors import AllTargetsFailedError, APITimeoutError, DeadlineExceededError, ProviderError
from tierflow.types import Attempt, AttemptOutcome, ChatRequest

if TYPE_CHECKING:
    from tierflow.calls.client import Client
    from tierflow.calls.plan import Plan, PlannedTarget
    from tierflow.providers.base import Provider, Timeouts

_perf = time.perf_counter


class Tries:
    """One call's attempts: the current target, its provider, timeouts and the records so far."""

    __slots__ = ("client", "plan", "request", "started", "deadline", "attempts", "last", "target", "key",
                 "provider", "timeouts", "ends", "wait", "t0", "_retry_index", "_targets", "_move_on")

    def __init__(self, client: Client, plan: Plan, request: ChatRequest, started: float,
                 deadline: float | None) -> None:
        self.client = client
        self.plan = plan
        self.request = request
        self.started = started
        self.deadline = deadline
        self.attempts: list[Attempt] = []
        self.last: ProviderError | None = None
        self._targets: Iterator[PlannedTarget] = iter(plan.targets)
        self._move_on = True
        # set by next(): the current attempt's target, its key, provider and timeouts
        self.target: PlannedTarget
        self.key: str
        self.provider: Provider
        self.timeouts: Timeouts
        self.ends: float  # the attempt's absolute end (perf clock): its total timeout or the deadline
        self.wait: float  # seconds waited before this attempt (0 for a target's first)
        self.t0: float  # when it started (perf clock)
        self._retry_index: int

    def next(self) -> PlannedTarget:
        """Set up the next attempt: the same target after a retry wait, else the next one allowed."""
        client = self.client
        if self._move_on:
            breakers = client.breakers
            for target in self._targets:
                if breakers.allow(target.key):
                    break
                self.attempts.append(Attempt(target.key, "skipped_cooldown"))
            else:
                raise AllTargetsFailedError(self.plan.name, self.attempts, self.last) from self.last
            self._move_on = False
            self.target = target
            self.key = target.key
            self.provider = client.provider(target.provider)
            self.request.model = target.model
            self._retry_index = 0
            self.wait = 0.0
        else:
            target = self.target
        try:
            self.timeouts, self.ends = client.attempt_timeouts(target, self.deadline)
        except DeadlineExceededError:
            client.breakers.release_probe(target.key)
            raise client.deadline_error(self.plan, self.started, self.attempts) from self.last
        self.t0 = _perf()
        return target

    def record(self, outcome: AttemptOutcome, error: str | None = None, status_code: int | None = None,
               now: float | None = None) -> None:
        """Record the current attempt's ``outcome``; it lasted until ``now`` (default: now)."""
        self.attempts.append(Attempt(self.key, outcome, error, status_code, self.wait,
                                     (_perf() if now is None else now) - self.t0))

    def succeeded(self) -> None:
        """Close the target's breaker and record the attempt as ``ok``."""
        key = self.key
        self.client.breakers.record_success(key)
        self.attempts.append(Attempt(key, "ok", None, None, self.wait, _perf() - self.t0))

    def cancelled(self) -> None:
        """The attempt ended without a verdict on the target (cancelled, or an exception that is not
        a provider error): record it as ``cancelled`` and give back the breaker's probe, if it held
        one, so that the target is not skipped for good."""
        self.record("cancelled")
        self.client.breakers.release_probe(self.key)

    def deadline_ran_out(self, cause: BaseException, error: str, status_code: int | None = None,
                         now: float | None = None) -> NoReturn:
        """Record the attempt as an ``error`` named ``error`` and raise the call's deadline error.

        The call's deadline says nothing about the target's health: its breaker only gives back
        the probe.
        """
        self.record("error", error, status_code, now)
        self.client.breakers.release_probe(self.key)
        raise self.client.deadline_error(self.plan, self.started, self.attempts) from cause

    async def failed(self, error: ProviderError) -> None:
        """Record the failed attempt; sleep before a retry, move on to the next target or raise."""
        if self.ends == self.deadline and isinstance(error, APITimeoutError):
            self.deadline_ran_out(error, type(error).__name__, error.status_code)
        self.record("error", type(error).__name__, error.status_code)
        self.last = error
        wait = self.client.after_failure(self.target, error, self._retry_index, self.deadline)
        if wait is None:
            if not falls_back(error):
                raise error
            self._move_on = True
            return
        await asyncio.sleep(wait)
        self.wait = wait
        self._retry_index += 1


__all__ = ["Tries"]
