"""The call layer's typed events, as an observer registered on the client receives them."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import pytest

from tierflow.calls import Client
from tierflow.calls.events import (
    AttemptFinished,
    AttemptStarted,
    CallEvent,
    CallFinished,
    FirstToken,
    RouteDecided,
)
from tierflow.calls.plan import Planner
from tierflow.errors import AllTargetsFailedError, UnknownRoleError
from tierflow.testing import Answer, LLMTestServer, SlowStream, Status
from tierflow.types import Usage

from .conftest import ManualClock


@pytest.fixture
def observed(make_client: Callable[..., Client]) -> Callable[..., tuple[Client, list[CallEvent]]]:
    def make(**kw: object) -> tuple[Client, list[CallEvent]]:
        events: list[CallEvent] = []
        client = make_client(**kw)
        client.add_observer(events.append)
        return client, events

    return make


def _kinds(events: list[CallEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


async def test_a_retried_call_reports_each_attempt_and_its_end(observed: Callable[..., tuple[Client, list[CallEvent]]],
                                                               llm_server: LLMTestServer) -> None:
    client, events = observed()
    llm_server.script("a", [Status(429, retry_after=0.01), Answer("hi", input_tokens=10, output_tokens=4)])
    result = await client.acall("primary", "x", request_id="req-1")
    assert _kinds(events) == ["AttemptStarted", "AttemptFinished", "AttemptStarted", "AttemptFinished", "CallFinished"]
    assert {e.request_id for e in events} == {"req-1"} and result.request_id == "req-1"
    assert all(e.role == "primary" for e in events)
    started, failed, retried, ok, end = events
    first, second = result.attempts
    assert started == AttemptStarted("req-1", "primary", "srv/a", "srv", "a", 0, 0.0)
    assert failed == AttemptFinished("req-1", "primary", "srv/a", "srv", "a", 0, "error", "RateLimitError", 429,
                                     0.0, first.duration_s)
    assert 0 < first.duration_s < result.latency_s
    assert retried == AttemptStarted("req-1", "primary", "srv/a", "srv", "a", 1, second.wait_s)
    assert second.wait_s == pytest.approx(0.01)
    assert ok == AttemptFinished("req-1", "primary", "srv/a", "srv", "a", 1, "ok", None, None, second.wait_s,
                                 second.duration_s)
    assert end == CallFinished("req-1", "primary", "primary", "ok", "srv/a", "srv", "a", None, None,
                               Usage(10, 4), result.cost_usd, result.latency_s, None, result.setup_s,
                               tuple(result.attempts), None, False)
    assert result.cost_usd == pytest.approx((10 * 1.0 + 4 * 2.0) / 1e6)


async def test_a_skipped_target_has_no_start_and_a_failed_call_says_why(
        observed: Callable[..., tuple[Client, list[CallEvent]]], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client, events = observed(failures=1, max_retries=0, clock=clock)
    llm_server.set_default("a", Status(503))
    llm_server.set_default("b", Status(400))
    with pytest.raises(AllTargetsFailedError):
        await client.acall("primary", "x")
    events.clear()
    with pytest.raises(AllTargetsFailedError):
        await client.acall("primary", "x")
    assert _kinds(events) == ["AttemptFinished", "AttemptStarted", "AttemptFinished", "CallFinished"]
    skipped, _, bad_request, end = events
    rid = end.request_id
    assert skipped == AttemptFinished(rid, "primary", "srv/a", "srv", "a", 0, "skipped_cooldown", None, None, 0.0, 0.0)
    assert isinstance(bad_request, AttemptFinished) and (bad_request.attempt, bad_request.status_code) == (1, 400)
    assert isinstance(end, CallFinished)
    assert (end.outcome, end.error, end.status_code, end.target, end.provider, end.model, end.usage, end.cost_usd) \
        == ("error", "AllTargetsFailedError", 400, "srv/b", "srv", "b", None, None)
    assert [a.outcome for a in end.attempts] == ["skipped_cooldown", "error"]


async def test_a_call_whose_every_target_is_skipped_names_no_target(
        observed: Callable[..., tuple[Client, list[CallEvent]]], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client, events = observed(failures=1, max_retries=0, clock=clock)
    llm_server.set_default("a", Status(503))
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    events.clear()
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    end = events[-1]
    assert isinstance(end, CallFinished)
    assert (end.outcome, end.target, end.provider, end.model, end.status_code) == ("error", None, None, None, None)


async def test_a_failed_call_reports_its_latency_without_set_up(
        observed: Callable[..., tuple[Client, list[CallEvent]]], llm_server: LLMTestServer) -> None:
    client, events = observed(priced=False, max_retries=0)  # the first call builds its plan: set-up
    llm_server.set_default("a", Status(503))
    t0 = time.perf_counter()
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    wall = time.perf_counter() - t0
    end = events[-1]
    assert isinstance(end, CallFinished) and end.status_code == 503
    assert end.setup_s > 0 and 0 < end.latency_s and end.latency_s + end.setup_s <= wall


async def test_a_stream_reports_its_first_token_and_end(observed: Callable[..., tuple[Client, list[CallEvent]]],
                                                        llm_server: LLMTestServer) -> None:
    client, events = observed()
    stream = client.astream("fast", "one two three", request_id="s-1")
    result = await stream.collect()
    assert stream.request_id == result.request_id == "s-1"
    assert _kinds(events) == ["AttemptStarted", "FirstToken", "AttemptFinished", "CallFinished"]
    first, end = events[1], events[3]
    assert first == FirstToken("s-1", "fast", "srv/c", "srv", "c", 0, result.ttft_s)
    assert isinstance(end, CallFinished) and end.stream and (end.outcome, end.error) == ("ok", None)
    assert (end.ttft_s, end.usage, end.request_id, end.target) == (result.ttft_s, result.usage, "s-1", "srv/c")


async def test_a_stream_failing_before_its_first_chunk_ends_with_the_error(
        observed: Callable[..., tuple[Client, list[CallEvent]]], llm_server: LLMTestServer) -> None:
    client, events = observed(max_retries=0)
    llm_server.set_default("a", Status(503))
    with pytest.raises(AllTargetsFailedError):
        await client.astream("solo", "x").collect()
    end = events[-1]
    assert isinstance(end, CallFinished) and end.stream
    assert (end.outcome, end.error, end.status_code, end.ttft_s) == ("error", "AllTargetsFailedError", 503, None)


async def test_an_abandoned_stream_ends_as_cancelled(observed: Callable[..., tuple[Client, list[CallEvent]]],
                                                     llm_server: LLMTestServer) -> None:
    client, events = observed()
    llm_server.script("a", [SlowStream(chunk_delay=0.2, fast_chunks=1, text="a b c d")])
    async with client.astream("solo", "x") as stream:
        async for _ in stream:
            break
    assert _kinds(events) == ["AttemptStarted", "FirstToken", "AttemptFinished", "CallFinished"]
    assert isinstance(events[2], AttemptFinished) and events[2].outcome == "cancelled"
    end = events[3]
    assert isinstance(end, CallFinished) and (end.outcome, end.error, end.target) == ("cancelled", "GeneratorExit",
                                                                                      "srv/a")


async def test_a_routed_call_reports_the_decision(observed: Callable[..., tuple[Client, list[CallEvent]]],
                                                  llm_server: LLMTestServer) -> None:
    client, events = observed(extra="  - {role: auto, router: r.json, candidates: [fast, primary]}")
    decision = {"chosen_role": "fast", "predicted_quality": 0.9, "predicted_cost": 1e-6, "runner_up": "primary"}

    class Chooser:
        def choose(self, messages: object) -> dict[str, object]:
            return decision

    client.planner = Planner(client.config, client.prices, lambda entry: Chooser())
    result = await client.acall("auto", "hi")
    assert _kinds(events) == ["RouteDecided", "AttemptStarted", "AttemptFinished", "CallFinished"]
    assert events[0] == RouteDecided(result.request_id, "auto", decision)  # type: ignore[arg-type]
    end = events[-1]
    assert isinstance(end, CallFinished) and (end.name, end.role, end.decision, end.target) == (
        "auto", "auto", decision, "srv/c")
    events.clear()
    streamed = await client.astream("auto", "hi").collect()  # a routed stream records the decision too
    assert streamed.decision == decision and streamed.model_used == "srv/c"
    assert _kinds(events)[0] == "RouteDecided" and events[-1].decision == decision  # type: ignore[union-attr]


async def test_a_call_refused_before_any_attempt_still_ends(observed: Callable[..., tuple[Client, list[CallEvent]]],
                                                            llm_server: LLMTestServer) -> None:
    client, events = observed()
    with pytest.raises(UnknownRoleError):
        await client.acall("nope", "x", request_id="r")
    with pytest.raises(UnknownRoleError):
        await client.astream("nope", "x", request_id="s").collect()
    assert [(type(e).__name__, e.request_id, e.name, e.outcome, e.error, e.stream, e.attempts)  # type: ignore[union-attr]
            for e in events] == [("CallFinished", "r", "nope", "error", "UnknownRoleError", False, ()),
                                 ("CallFinished", "s", "nope", "error", "UnknownRoleError", True, ())]
    assert llm_server.count() == 0


async def test_an_observer_that_raises_does_not_fail_the_call(make_client: Callable[..., Client],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    seen: list[CallEvent] = []

    def broken(event: CallEvent) -> None:
        raise RuntimeError("observer bug")

    client = make_client()
    client.add_observer(broken)
    client.add_observer(seen.append)
    with caplog.at_level(logging.ERROR, logger="tierflow.calls"):
        result = await client.acall("primary", "x")
    assert result.text and len(seen) == 3  # the next observer still got every event
    assert "observer" in caplog.text and "RuntimeError" in caplog.text
    client.remove_observer(broken)
    client.remove_observer(seen.append)
    await client.acall("primary", "x")
    assert len(seen) == 3


async def test_observers_given_to_the_constructor(llm_server: LLMTestServer) -> None:
    from tierflow.config import parse_config

    from .conftest import config_text

    seen: list[CallEvent] = []
    async with Client(parse_config(config_text(llm_server.base_url)), observers=[seen.append]) as client:
        result = await client.acall("primary", "x")
    assert [type(e) for e in seen] == [AttemptStarted, AttemptFinished, CallFinished]
    assert result.request_id == seen[0].request_id and re.fullmatch(r"[0-9a-f]{8}-\d+", result.request_id)
