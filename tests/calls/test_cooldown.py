"""The circuit breaker's rule (calls/cooldown.py), driven by a manual clock and fixed outcome scripts."""

from __future__ import annotations

import asyncio

import pytest

from tierflow.calls import Client
from tierflow.calls.cooldown import CircuitBreakers
from tierflow.calls.events import AttemptFinished, AttemptStarted
from tierflow.config import CooldownSettings, parse_config
from tierflow.errors import AllTargetsFailedError
from tierflow.testing import Hang, LLMTestServer, Status
from tierflow.types import CallResult


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breakers(failures: int = 3, seconds: float = 30.0, **kw: float) -> tuple[CircuitBreakers, _Clock]:
    clock = _Clock()
    return CircuitBreakers(failures, seconds, clock=clock, **kw), clock  # type: ignore[arg-type]


def _run(b: CircuitBreakers, script: str, key: str = "t") -> None:
    """One request per letter, each completed before the next starts: S succeeds, F fails."""
    for outcome in script:
        ticket = b.allow(key)
        assert ticket is not None, f"refused before {script!r} was played"
        (b.record_failure if outcome == "F" else b.record_success)(key, ticket)


def test_a_target_failing_every_request_opens_after_failures() -> None:
    b, _ = _breakers(failures=3, seconds=30)
    _run(b, "FF")
    assert not b.is_open("t") and b.remaining("t") == 0.0
    _run(b, "F")
    assert b.is_open("t") and b.allow("t") is None and b.remaining("t") == 30
    assert b.allow("other") is not None  # per target


@pytest.mark.parametrize("failures", [1, 2, 5])
def test_the_number_of_failures_is_configurable(failures: int) -> None:
    b, _ = _breakers(failures=failures)
    _run(b, "F" * (failures - 1))
    assert not b.is_open("t")
    _run(b, "F")
    assert b.is_open("t")


def test_the_defaults_are_the_documented_numbers() -> None:
    b = CircuitBreakers()
    assert (b.failures, b.seconds, b.rate, b.window, b.window_s) == (3, 30.0, 0.5, 20, 60.0)
    settings = CooldownSettings()
    assert (b.failures, b.seconds) == (settings.failures, settings.seconds)


def test_an_unknown_target_is_closed() -> None:
    b, _ = _breakers()
    assert not b.is_open("never-seen") and b.remaining("never-seen") == 0.0
    b.reset("never-seen")  # nothing to forget: no error


def test_failures_larger_than_the_window_widen_it() -> None:
    b, _ = _breakers(failures=30)
    assert b.window == 30
    _run(b, "F" * 29)
    assert not b.is_open("t")
    _run(b, "F")
    assert b.is_open("t")


def test_below_a_full_window_every_outcome_must_have_failed() -> None:
    b, _ = _breakers()
    _run(b, "S" + "F" * 18)  # 19 outcomes, one success: not every one failed
    assert not b.is_open("t")
    _run(b, "F")  # 20 outcomes, 19 failed: at least half
    assert b.is_open("t")


def test_a_full_window_opens_at_half_failed() -> None:
    b, _ = _breakers()
    _run(b, "S" * 11 + "F" * 9)  # 9 of 20
    assert not b.is_open("t")
    _run(b, "F")  # the oldest success slides out: 10 of 20
    assert b.is_open("t")


def test_an_old_failure_sliding_out_of_a_full_window_is_no_longer_counted() -> None:
    b, _ = _breakers()
    _run(b, "FS" + "S" * 18 + "F" * 9)  # the first failure slid out: 9 of 20
    assert not b.is_open("t")
    _run(b, "F")  # 10 of 20
    assert b.is_open("t")


def test_a_mostly_healthy_target_never_opens() -> None:
    b, _ = _breakers()
    _run(b, ("S" * 9 + "F") * 50 + "SFFSSFSSFS" * 10)  # 10 %, then 40 % of every window of 20
    assert not b.is_open("t")


def test_successes_age_out_of_the_window() -> None:
    b, clock = _breakers()
    _run(b, "S" * 10)
    clock.now += 59
    _run(b, "FFF")  # the successes still count: 3 of 13
    assert not b.is_open("t")
    clock.now += 2  # the successes are now older than 60 s; the failures are not
    _run(b, "F")
    assert b.is_open("t")


def test_an_outcome_exactly_60_s_old_still_counts() -> None:
    b, clock = _breakers()
    _run(b, "S")
    clock.now += 60
    _run(b, "FFF")
    assert not b.is_open("t")


def test_failures_age_out_one_by_one() -> None:
    b, clock = _breakers()
    _run(b, "F")
    clock.now += 30
    _run(b, "F")
    clock.now += 31  # the first failure is now older than 60 s, the second is not
    _run(b, "F")
    assert not b.is_open("t")  # 2 failures in the window
    _run(b, "F")
    assert b.is_open("t")


def test_failures_age_out_too() -> None:
    b, clock = _breakers()
    _run(b, "FF")
    clock.now += 61
    _run(b, "FF")
    assert not b.is_open("t")  # two recent failures, the older two forgotten
    _run(b, "F")
    assert b.is_open("t")


def test_fast_failures_do_not_outvote_slow_answers_still_in_flight() -> None:
    b, _ = _breakers()
    tickets = [b.allow("t") for _ in range(500)]  # a burst: 500 requests in flight
    for i in range(9, 500, 10):  # every 10th answers at once with an error
        b.record_failure("t", tickets[i])
    assert not b.is_open("t")  # 50 failures completed, but 450 requests between them are in flight
    for i, t in enumerate(tickets):
        if i % 10 != 9:
            b.record_success("t", t)
    assert not b.is_open("t")


def test_in_flight_requests_between_failures_lower_the_rate_of_a_full_window() -> None:
    b, _ = _breakers(failures=4, window=4)  # judged only once the window holds 4 failures
    for key, failing, opens in (("a", (0, 2, 4, 8), False), ("b", (0, 2, 4, 7), True)):
        tickets = [b.allow(key) for _ in range(9)]
        for i in failing:  # a full window of 4 failures; 5 (a) or 4 (b) requests between them in flight
            b.record_failure(key, tickets[i])
        assert b.is_open(key) is opens  # 4 of 9 is under half, 4 of 8 is half


def test_requests_started_after_the_failures_do_not_hold_the_breaker_closed() -> None:
    b, _ = _breakers()
    tickets = [b.allow("t") for _ in range(100)]  # a dead target: errors come back in order
    for t in tickets[:3]:
        b.record_failure("t", t)
    assert b.is_open("t") and b.allow("t") is None  # 97 still in flight do not matter


def test_a_request_in_flight_between_failures_holds_until_it_ends() -> None:
    b, _ = _breakers(failures=2)
    first, middle, last = b.allow("t"), b.allow("t"), b.allow("t")
    b.record_failure("t", first)
    b.record_failure("t", last)
    assert not b.is_open("t")  # ``middle`` may still answer
    b.release("t", middle)  # it ended without a verdict: forgotten
    _run(b, "F")
    assert b.is_open("t")


def test_half_open_single_probe_then_reopen_or_close() -> None:
    b, clock = _breakers(failures=1, seconds=10)
    _run(b, "F")
    clock.now += 9.5
    assert b.allow("t") is None and b.remaining("t") == pytest.approx(0.5)
    clock.now += 0.5
    assert b.remaining("t") == 0.0 and not b.is_open("t")
    probe = b.allow("t")  # the probe
    assert probe is not None
    assert b.allow("t") is None and b.is_open("t")  # others keep skipping while it runs
    b.record_failure("t", probe)  # probe failed: open again for 10 s
    assert b.allow("t") is None and b.remaining("t") == 10
    clock.now += 10
    probe = b.allow("t")
    b.record_success("t", probe)
    assert not b.is_open("t") and b.allow("t") is not None and b.allow("t") is not None


def test_a_closed_breaker_starts_with_an_empty_window() -> None:
    b, clock = _breakers(failures=2, seconds=10)
    _run(b, "FF")
    clock.now += 10
    _run(b, "S")  # the probe closes it
    _run(b, "F")
    assert not b.is_open("t")  # one failure in the new period
    _run(b, "F")
    assert b.is_open("t")
    clock.now += 10
    assert b.allow("t") is not None  # opened again, it is probed again


def test_a_released_probe_lets_another_call_probe() -> None:
    b, clock = _breakers(failures=1, seconds=1)
    _run(b, "F")
    clock.now += 1
    probe = b.allow("t")
    assert probe is not None and b.allow("t") is None
    b.release("t", probe)
    assert b.allow("t") is not None


def test_answers_from_before_the_breaker_opened_are_ignored() -> None:
    b, clock = _breakers(failures=2, seconds=10)
    late_ok, late_error = b.allow("t"), b.allow("t")
    _run(b, "FF")
    b.record_success("t", late_ok)  # does not close it
    assert b.is_open("t")
    clock.now += 5
    b.record_failure("t", late_error)  # does not extend the cooldown
    assert b.remaining("t") == 5
    clock.now += 5
    probe = b.allow("t")
    stale = [b.allow("u") for _ in range(2)]  # another key's tickets are not this key's probe
    b.record_success("t", stale[0])
    assert b.is_open("t")
    b.record_success("t", probe)
    assert not b.is_open("t")


def test_answers_from_before_the_breaker_closed_are_ignored() -> None:
    b, clock = _breakers(failures=2, seconds=10)
    in_flight = [b.allow("t") for _ in range(3)]
    _run(b, "FF")
    clock.now += 10
    _run(b, "S")
    for t in in_flight[:2]:
        b.record_failure("t", t)
    assert not b.is_open("t")
    b.release("t", in_flight[2])
    assert not b.is_open("t")


def test_reset() -> None:
    b, _ = _breakers(failures=1, seconds=100)
    _run(b, "F", "t")
    _run(b, "F", "u")
    pending = b.allow("v")
    b.reset("t")
    assert b.allow("t") is not None and b.allow("u") is None
    b.reset()
    assert b.allow("u") is not None
    for verdict in (b.record_success, b.record_failure, b.release):
        verdict("v", pending)  # a verdict for a forgotten key is ignored
    assert not b.is_open("v")


def test_tickets_are_unique_across_keys_and_resets() -> None:
    b, _ = _breakers()
    seen = [b.allow("t"), b.allow("u")]
    b.reset()
    seen += [b.allow("t"), b.allow("u")]
    assert len(set(seen)) == 4 and None not in seen


# --- under load, against the loopback server ---------------------------------------------------------

def _load_config(base_url: str, failures: int, max_connections: int = 100) -> str:
    return f"""
providers:
  srv: {{kind: openai, base_url: "{base_url}/v1", api_key: test, max_connections: {max_connections}}}
models:
  - {{role: solo, ref: srv, model: a}}
reliability: {{max_retries: 2, backoff_initial_s: 0.001, backoff_max_s: 0.002, cooldown: {{failures: {failures}, seconds: 30}}}}
"""


async def _burst(client: Client, calls: int) -> list[CallResult | BaseException]:
    return await asyncio.gather(*(client.acall("solo", f"q{i}") for i in range(calls)), return_exceptions=True)


@pytest.mark.parametrize("max_connections", [100, 500])
async def test_a_mostly_healthy_target_under_load_fails_no_more_than_without_the_breaker(
        llm_server: LLMTestServer, max_connections: int) -> None:
    # 500 calls in flight; every 10th request answers 500 at once, the others answer after 50 ms,
    # so the first requests to complete are nearly all failures
    llm_server.script("a", ([Hang(0.05)] * 9 + [Status(500)]) * 200)
    events: list[object] = []
    async with Client(parse_config(_load_config(llm_server.base_url, 3, max_connections)),
                      observers=[events.append]) as client:
        results = await _burst(client, 500)
    outcomes = [e.outcome for e in events if isinstance(e, AttemptFinished)]
    assert outcomes.count("error") >= 50 and "skipped_cooldown" not in outcomes  # the breaker never opened
    # so the calls ran exactly as without a breaker: a call fails only when its own three tries failed
    failed = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, AllTargetsFailedError) and [a.outcome for a in r.attempts] == ["error"] * 3
               for r in failed)


async def test_a_dead_target_under_load_is_skipped_after_failures_plus_those_in_flight(llm_server: LLMTestServer) -> None:
    # the documented bound holds when a dead target's errors come back in the order the requests
    # were sent: one connection makes that order certain (500 calls are still in flight at once)
    llm_server.set_default("a", Status(500))
    in_flight = 0
    at_open: list[int] = []
    client = Client(parse_config(_load_config(llm_server.base_url, 3, max_connections=1)))

    def observe(event: object) -> None:
        nonlocal in_flight
        if isinstance(event, AttemptStarted):
            in_flight += 1
        elif isinstance(event, AttemptFinished) and event.outcome != "skipped_cooldown":
            in_flight -= 1
            if not at_open and client.breakers.is_open(event.target):
                at_open.append(in_flight)

    client.add_observer(observe)
    try:
        results = await _burst(client, 500)
    finally:
        await client.aclose()
    assert all(isinstance(r, AllTargetsFailedError) for r in results)
    assert at_open, "the breaker never opened"
    assert at_open[0] > 400  # it opened with most of the burst still in flight
    assert llm_server.count("a") <= 3 + at_open[0]
    assert llm_server.count("a") < 500 * 3  # retries after the opening are skipped
