"""A per-target circuit breaker shared by every call of one :class:`~tierflow.calls.Client`.

Each request to a target (``ref/model``) takes a *ticket* from :meth:`CircuitBreakers.allow` and
gives it back with a verdict: :meth:`~CircuitBreakers.record_success`,
:meth:`~CircuitBreakers.record_failure`, or :meth:`~CircuitBreakers.release` for no verdict
(cancelled, or an error about the request rather than the target).

**When it opens** (the failure-rate rule of resilience4j, with its numbers scaled to LLM traffic):
the breaker looks at the *window*, the outcomes of the last ``window`` (20, at least ``failures``)
requests that completed within the last ``window_s`` (60 s). It opens when the window holds at
least ``failures`` (3, ``reliability.cooldown.failures``) failures and

- with fewer than ``window`` outcomes: every outcome is a failure;
- with ``window`` outcomes: at least ``rate`` (50 %) of them are failures.

Requests still in flight that were started between the oldest and the newest request of the
window count as *not failed* in that rate. A fast error overtakes slow answers: without this, a
burst of calls to a mostly healthy target would see its failures complete first and open the
breaker (500 calls in flight, 1 in 10 answered at once with a 500 and the rest after 50 ms: the
first completions are all failures). Counting the requests between them keeps the rate honest at
any concurrency, and costs nothing until the completed outcomes alone would open the breaker.

So a target that fails every request (its errors arriving in order, as a dead endpoint's do) is
skipped after ``failures`` requests plus those already in flight when it opened; one whose window
is full of recent successes after 10 (half of 20) failures, fewer once those successes are a
minute old; a target failing 1 request in 10 at random never opens on a full window (10 failures
in 20 has a probability of 7e-6), and at a cold start only if its first 3 requests fail (1e-3).
Below a full window the rule asks for every outcome to have failed so that a few unlucky
requests at low traffic do not open it; the price is that a target dying right after answering
waits for the window to fill or for its successes to age out.

**Open**: for ``seconds`` (30 s) calls skip the target at once (an ``Attempt`` with outcome
``skipped_cooldown``, no request, no wait) and move to the next target of their chain; a role with
a single target fails fast with ``AllTargetsFailedError``, whose ``retry_after_s`` says when to try
again. Then *half-open*: exactly one call probes the target while the others keep skipping it; a
success closes the breaker with an empty window, a failure opens it for another ``seconds``, no
verdict lets the next call probe. Outcomes of requests sent before the breaker opened (or before it
closed again) are ignored: they describe an earlier period.

This is what LiteLLM gets wrong (#40405): a dead deployment retried on every request.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class _State:
    """One target's breaker. ``since``: tickets below it belong to an earlier period (ignored)."""

    __slots__ = ("since", "in_flight", "outcomes", "failed", "open", "open_until", "probe")

    def __init__(self, window: int, since: int) -> None:
        self.since = since
        self.in_flight: set[int] = set()
        self.outcomes: deque[tuple[int, bool, float]] = deque(maxlen=window)  # (ticket, failed, when)
        self.failed = 0  # failures among ``outcomes``
        self.open = False
        self.open_until = 0.0
        self.probe: int | None = None  # the half-open probe's ticket while it runs


class CircuitBreakers:
    """Breaker state per target key. Not thread-safe on its own: used from one event loop."""

    def __init__(self, failures: int = 3, seconds: float = 30.0, *, rate: float = 0.5, window: int = 20,
                 window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.seconds = seconds
        self.rate = rate
        self.window = max(window, failures)  # the window must be able to hold ``failures`` failures
        self.window_s = window_s
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._next_ticket = 0  # tickets are unique across keys and resets

    def allow(self, key: str) -> int | None:
        """A ticket for one request to ``key``, or None while it cools down (or another call probes it)."""
        ticket = self._next_ticket
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State(self.window, ticket)
        if state.open:
            if state.probe is not None or self._clock() < state.open_until:
                return None
            state.probe = ticket
        else:
            state.in_flight.add(ticket)
        self._next_ticket = ticket + 1
        return ticket

    def record_success(self, key: str, ticket: int) -> None:
        """The request of ``ticket`` succeeded: a probe's success closes the breaker."""
        state = self._states.get(key)
        if state is None:  # reset while the request ran
            return
        if state.open:
            if ticket == state.probe:
                self._close(state)
        elif ticket >= state.since:
            state.in_flight.discard(ticket)
            self._add(state, ticket, False, self._clock())

    def record_failure(self, key: str, ticket: int) -> None:
        """The request of ``ticket`` failed: opens the breaker when the rule says so (module docstring)."""
        state = self._states.get(key)
        if state is None:
            return
        now = self._clock()
        if state.open:
            if ticket == state.probe:  # the probe failed: cool down again
                state.probe = None
                state.open_until = now + self.seconds
        elif ticket >= state.since:
            state.in_flight.discard(ticket)
            self._add(state, ticket, True, now)
            if self._trips(state, now):
                self._open(state, now)

    def release(self, key: str, ticket: int) -> None:
        """The request of ``ticket`` ended without a verdict on the target: forget it (a probe may run again)."""
        state = self._states.get(key)
        if state is None:
            return
        if state.probe == ticket:
            state.probe = None
        state.in_flight.discard(ticket)

    def is_open(self, key: str) -> bool:
        """True while ``key`` is skipped: cooling down, or half-open with its probe running."""
        state = self._states.get(key)
        return state is not None and state.open and (state.probe is not None or self._clock() < state.open_until)

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` may be probed (0 when it is not cooling down, or its probe is running)."""
        state = self._states.get(key)
        if state is None or not state.open:
            return 0.0
        return max(0.0, state.open_until - self._clock())

    def reset(self, key: str | None = None) -> None:
        """Forget every target's state (or ``key``'s): they start closed with an empty window."""
        if key is None:
            self._states.clear()
        else:
            self._states.pop(key, None)

    # --- the rule ---------------------------------------------------------------------------------

    def _add(self, state: _State, ticket: int, failed: bool, now: float) -> None:
        outcomes = state.outcomes
        if len(outcomes) == self.window and outcomes[0][1]:
            state.failed -= 1  # the append below pushes the oldest outcome, a failure, out
        outcomes.append((ticket, failed, now))
        if failed:
            state.failed += 1

    def _trips(self, state: _State, now: float) -> bool:
        outcomes = state.outcomes
        horizon = now - self.window_s
        while outcomes[0][2] < horizon:  # the newest outcome is ``now``: the loop stops there
            if outcomes.popleft()[1]:
                state.failed -= 1
        if state.failed < self.failures or not self._enough(state.failed, len(outcomes)):
            return False
        tickets = [t for t, _, _ in outcomes]
        low, high = min(tickets), max(tickets)
        between = sum(1 for t in state.in_flight if low < t < high)
        return between == 0 or self._enough(state.failed, len(outcomes) + between)

    def _enough(self, failed: int, volume: int) -> bool:
        """Do ``failed`` failures out of ``volume`` requests open the breaker?"""
        if volume < self.window:
            return failed >= volume
        return failed >= self.rate * volume

    def _open(self, state: _State, now: float) -> None:
        state.open = True
        state.open_until = now + self.seconds
        self._new_period(state)

    def _close(self, state: _State) -> None:
        state.open = False
        state.probe = None
        self._new_period(state)

    def _new_period(self, state: _State) -> None:
        state.since = self._next_ticket
        state.in_flight.clear()
        state.outcomes.clear()
        state.failed = 0


__all__ = ["CircuitBreakers"]
