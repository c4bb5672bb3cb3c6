"""The circuit breaker state machine, driven by a manual clock."""

from __future__ import annotations

from tierflow.calls.cooldown import CircuitBreakers


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    clock = _Clock()
    b = CircuitBreakers(failures=3, seconds=30, clock=clock)
    b.record_failure("t")
    b.record_failure("t")
    b.record_success("t")  # resets the count
    b.record_failure("t")
    b.record_failure("t")
    assert b.allow("t") and not b.is_open("t")
    b.record_failure("t")
    assert b.is_open("t") and not b.allow("t") and b.remaining("t") == 30
    assert b.allow("other")


def test_half_open_single_probe_then_close_or_reopen() -> None:
    clock = _Clock()
    b = CircuitBreakers(failures=1, seconds=10, clock=clock)
    b.record_failure("t")
    clock.now += 10
    assert b.allow("t")          # the probe
    assert not b.allow("t")      # others keep skipping while it runs
    b.record_failure("t")        # probe failed: open again for 10 s
    assert not b.allow("t") and b.remaining("t") == 10
    clock.now += 10
    assert b.allow("t")
    b.record_success("t")
    assert b.allow("t") and b.allow("t") and not b.is_open("t")


def test_released_probe_lets_another_call_probe() -> None:
    clock = _Clock()
    b = CircuitBreakers(failures=1, seconds=1, clock=clock)
    b.record_failure("t")
    clock.now += 1
    assert b.allow("t") and not b.allow("t")
    b.release_probe("t")
    assert b.allow("t")


def test_reset() -> None:
    b = CircuitBreakers(failures=1, seconds=100)
    b.record_failure("t")
    b.record_failure("u")
    b.reset("t")
    assert b.allow("t") and not b.allow("u")
    b.reset()
    assert b.allow("u")
