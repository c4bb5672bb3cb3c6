"""A per-target circuit breaker shared by every call of one :class:`~tierflow.calls.Client`.

After ``failures`` consecutive failed attempts on a target (``ref/model``), the target is *open*
for ``seconds``: calls skip it at once (an ``Attempt`` with outcome ``skipped_cooldown``, no
upstream request, no wait) and move to the next target of their chain. This also holds for a
role with a single target: the call fails fast with ``AllTargetsFailedError``. When the cooldown
has expired the breaker is *half-open*: exactly one call probes the target while the others keep
skipping it; a success closes the breaker, a failure opens it again for another ``seconds``.

This is what LiteLLM gets wrong (#40405): a dead deployment retried on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class _State:
    __slots__ = ("failures", "open_until", "probing")

    def __init__(self) -> None:
        self.failures = 0
        self.open_until = 0.0
        self.probing = False


class CircuitBreakers:
    """Breaker state per target key. Not thread-safe on its own: used from one event loop."""

    def __init__(self, failures: int = 3, seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.seconds = seconds
        self._clock = clock
        self._states: dict[str, _State] = {}

    def allow(self, key: str) -> bool:
        """May a call try ``key`` now? Claims the single half-open probe when it says yes."""
        state = self._states.get(key)
        if state is None or state.failures < self.threshold:
            return True
        if self._clock() < state.open_until or state.probing:
            return False
        state.probing = True
        return True

    def record_success(self, key: str) -> None:
        state = self._states.get(key)
        if state is not None:
            state.failures = 0
            state.probing = False

    def record_failure(self, key: str) -> None:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
        state.failures += 1
        state.probing = False
        if state.failures >= self.threshold:
            state.open_until = self._clock() + self.seconds

    def release_probe(self, key: str) -> None:
        """The probe ended without a verdict (cancelled, request-specific error): let another try."""
        state = self._states.get(key)
        if state is not None:
            state.probing = False

    def is_open(self, key: str) -> bool:
        state = self._states.get(key)
        return state is not None and state.failures >= self.threshold and self._clock() < state.open_until

    def remaining(self, key: str) -> float:
        """Seconds until ``key`` may be probed again (0 when it is not cooling down)."""
        state = self._states.get(key)
        if state is None or state.failures < self.threshold:
            return 0.0
        return max(0.0, state.open_until - self._clock())

    def reset(self, key: str | None = None) -> None:
        if key is None:
            self._states.clear()
        else:
            self._states.pop(key, None)


__all__ = ["CircuitBreakers"]
