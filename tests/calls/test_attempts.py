"""The walk over a plan's targets (calls/_attempts.py): a breaker's half-open probe is always
given back when the probe ends without a verdict, so a target is never skipped for good."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable

import pytest

from tierflow.calls import Client
from tierflow.calls._attempts import attempt_timeouts
from tierflow.config import parse_config
from tierflow.errors import (
    AllTargetsFailedError,
    ConfigError,
    DeadlineExceededError,
    NotFoundError,
    ServerError,
    StreamInterruptedError,
)
from tierflow.providers.base import Provider, Timeouts
from tierflow.testing import Answer, Hang, LLMTestServer, Status
from tierflow.types import ChatRequest, ChatResponse, StreamChunk

from .conftest import ManualClock

_CONFIG = """
providers:
  slow: {kind: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  - {role: primary, ref: slow, model: m}
reliability: {max_retries: 0, cooldown: {failures: 1, seconds: 0}}
"""


class _Buggy(Provider):
    """Fails with provider errors until ``bug`` is set, then raises an exception of its own."""

    kind = "openai"

    def __init__(self, name: str, settings: object) -> None:
        super().__init__(name, settings)  # type: ignore[arg-type]
        self.bug: BaseException | None = None
        self.bug_at_open = False  # streams: raise the bug when the stream is opened, not when read
        self.calls = 0

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        self.calls += 1
        if self.bug is not None:
            raise self.bug
        raise ServerError("boom", target="slow/m", status_code=500)

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        self.calls += 1
        if self.bug is not None and self.bug_at_open:
            raise self.bug
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[StreamChunk]:
        if self.bug is not None:
            raise self.bug
        raise ServerError("boom", target="slow/m", status_code=500)
        yield StreamChunk(text="never")


@pytest.mark.parametrize("bug", [RuntimeError("provider bug"), TimeoutError("raw timeout")])
async def test_a_probe_that_ends_in_a_providers_own_exception_gives_the_probe_back(bug: BaseException) -> None:
    config = parse_config(_CONFIG, source="test.yaml")
    provider = _Buggy("slow", config.provider_settings("slow"))
    client = Client(config, providers={"slow": provider})
    with pytest.raises(AllTargetsFailedError):
        await client.acall("primary", "x")  # opens the breaker (one failure, zero seconds)
    provider.bug = bug
    with pytest.raises(type(bug)):
        await client.acall("primary", "x")  # the half-open probe
    provider.bug = None
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("primary", "x")  # another call may probe: the target is not skipped for good
    assert [a.outcome for a in info.value.attempts] == ["error"]
    assert provider.calls == 3


@pytest.mark.parametrize(("bug", "at_open"), [(RuntimeError("provider bug"), True), (RuntimeError("provider bug"), False),
                                              (TimeoutError("raw timeout"), False)])
async def test_a_streamed_probe_that_ends_in_a_providers_own_exception_gives_the_probe_back(
        bug: BaseException, at_open: bool) -> None:
    config = parse_config(_CONFIG, source="test.yaml")
    provider = _Buggy("slow", config.provider_settings("slow"))
    client = Client(config, providers={"slow": provider})
    with pytest.raises(AllTargetsFailedError):
        await client.astream("primary", "x").collect()  # opens the breaker
    provider.bug, provider.bug_at_open = bug, at_open
    with pytest.raises(type(bug)):
        await client.astream("primary", "x").collect()  # the half-open probe
    provider.bug = None
    with pytest.raises(AllTargetsFailedError) as info:
        await client.astream("primary", "x").collect()
    assert [a.outcome for a in info.value.attempts] == ["error"]
    assert provider.calls == 3


async def test_a_call_refused_because_every_target_cools_down_says_when_to_retry(
        make_client: Callable[..., Client], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client = make_client(failures=1, max_retries=0, seconds=30, clock=clock)
    llm_server.set_default("a", Status(500))
    llm_server.set_default("b", Status(503))
    with pytest.raises(AllTargetsFailedError) as first:
        await client.acall("primary", "x")  # both targets fail and open: retry once the first cools down
    assert first.value.retry_after_s == 30
    clock.now += 12
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("primary", "x")
    assert [a.outcome for a in info.value.attempts] == ["skipped_cooldown"] * 2
    assert info.value.retry_after_s == pytest.approx(18) and "retry in 18.0 s" in str(info.value)
    assert llm_server.count("a") == 1 and llm_server.count("b") == 1


async def test_no_retry_hint_while_a_target_of_the_chain_is_not_cooling_down(
        make_client: Callable[..., Client], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client = make_client(failures=1, max_retries=0, clock=clock)
    llm_server.set_default("a", Status(500))
    llm_server.set_default("b", Status(400))  # about the request, not b's health: b does not cool down
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("primary", "x")
    assert info.value.retry_after_s is None and "retry in" not in str(info.value)


async def test_the_hint_is_zero_while_a_probe_runs(make_client: Callable[..., Client], llm_server: LLMTestServer,
                                                   clock: ManualClock) -> None:
    client = make_client(failures=1, max_retries=0, seconds=30, clock=clock)
    llm_server.script("a", [Status(500), Hang(0.3)])
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    clock.now += 30
    probe = asyncio.create_task(client.acall("solo", "probe"))
    while llm_server.count("a") < 2:
        await asyncio.sleep(0.01)
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("solo", "x")
    assert info.value.retry_after_s == 0 and "a probe of one is running now" in str(info.value)
    assert (await probe).model_used == "srv/a"


# --- the attempt's time limits ---------------------------------------------------------------------

_T = Timeouts(connect=5.0, total=30.0, stream_idle=60.0)


def test_without_a_deadline_an_attempt_gets_its_timeouts() -> None:
    assert attempt_timeouts(_T, None, 100.0) == (_T, 130.0)


def test_a_far_deadline_leaves_the_timeouts_as_they_are() -> None:
    assert attempt_timeouts(_T, 1000.0, 100.0) == (_T, 130.0)
    short = Timeouts(connect=50.0, total=30.0, stream_idle=60.0)  # exactly the total left: nothing shrinks
    assert attempt_timeouts(short, 130.0, 100.0) == (short, 130.0)


def test_a_near_deadline_shrinks_every_timeout_to_what_is_left() -> None:
    assert attempt_timeouts(_T, 103.0, 100.0) == (Timeouts(3.0, 3.0, 3.0), 103.0)
    assert attempt_timeouts(_T, 110.0, 100.0) == (Timeouts(5.0, 10.0, 10.0), 110.0)


def test_a_passed_deadline_leaves_no_attempt() -> None:
    assert attempt_timeouts(_T, 100.0, 100.0) is None
    assert attempt_timeouts(_T, 99.0, 100.0) is None


# --- the walk -------------------------------------------------------------------------------------

async def test_a_target_is_tried_once_plus_max_retries(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(failures=10, max_retries=3)
    llm_server.set_default("a", Status(500))
    result = await client.acall("primary", "x")
    assert llm_server.count("a") == 4 and result.model_used == "srv/b"


async def test_all_failed_keeps_the_last_error(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(max_retries=0)
    llm_server.set_default("a", Status(500))
    llm_server.set_default("b", Status(404))
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("primary", "x")
    assert isinstance(info.value.last_error, NotFoundError) and info.value.__cause__ is info.value.last_error
    assert "last error: srv/b: HTTP 404" in str(info.value)


async def test_a_failure_is_logged_with_target_class_and_status(make_client: Callable[..., Client],
                                                                llm_server: LLMTestServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    client = make_client()
    llm_server.script("a", [Status(503), Answer("ok")])
    with caplog.at_level(logging.INFO, logger="tierflow.calls"):
        await client.acall("primary", "x")
    assert "srv/a failed: ServerError (status 503)" in caplog.messages


async def test_a_retry_finds_the_breaker_opened_by_another_call_and_moves_on(
        make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(failures=2)
    llm_server.script("a", [Status(429, retry_after=0.3), Status(500)])
    waiting = asyncio.create_task(client.acall("primary", "first"))
    while llm_server.count("a") < 1:
        await asyncio.sleep(0.01)
    other = await client.acall("primary", "second")  # its failure is the second: the breaker opens
    assert [a.outcome for a in other.attempts] == ["error", "ok"]
    first = await waiting
    assert [(a.target, a.outcome) for a in first.attempts] == [
        ("srv/a", "error"), ("srv/a", "skipped_cooldown"), ("srv/b", "ok")]
    assert llm_server.count("a") == 2


async def test_a_deadline_passed_before_an_attempt_gives_the_probe_back(
        make_client: Callable[..., Client], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client = make_client(failures=1, max_retries=0, clock=clock)
    llm_server.script("a", [Status(500)])
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    clock.now += 30  # half-open: the next attempt is the probe
    with pytest.raises(DeadlineExceededError):
        await client.acall("solo", "x", deadline_s=1e-9)
    assert (await client.acall("solo", "x")).attempts[0].outcome == "ok"


async def test_a_provider_that_cannot_be_created_gives_the_probe_back(clock: ManualClock) -> None:
    config = parse_config("""
providers:
  bad: {kind: local, options: {n_ctx: 1}}
models:
  - {role: primary, ref: bad, model: m}
reliability: {cooldown: {failures: 1, seconds: 30}}
""", source="test.yaml")
    client = Client(config, clock=clock)
    ticket = client.breakers.allow("bad/m")
    client.breakers.record_failure("bad/m", ticket)  # type: ignore[arg-type]
    clock.now += 30
    with pytest.raises(ConfigError, match="n_ctx"):
        await client.acall("primary", "x")  # the probe: its provider cannot be created
    assert not client.breakers.is_open("bad/m")  # the probe was given back


async def test_an_error_no_other_target_can_help_with_is_raised_with_the_attempts() -> None:
    config = parse_config(_CONFIG, source="test.yaml")
    provider = _Buggy("slow", config.provider_settings("slow"))
    provider.bug = StreamInterruptedError("cut", target="slow/m")
    client = Client(config, providers={"slow": provider})
    with pytest.raises(StreamInterruptedError) as info:
        await client.acall("primary", "x")
    assert [(a.target, a.outcome, a.error) for a in info.value.attempts] == [
        ("slow/m", "error", "StreamInterruptedError")]


async def test_a_probe_answered_with_an_error_about_the_request_gives_the_probe_back(
        make_client: Callable[..., Client], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client = make_client(failures=1, max_retries=0, clock=clock)
    llm_server.script("a", [Status(500), Status(400)])
    await client.acall("primary", "x")  # a fails and opens; b answers
    clock.now += 30
    probe = await client.acall("primary", "x")  # the probe: 400 says nothing of a's health
    assert [(a.target, a.outcome) for a in probe.attempts] == [("srv/a", "error"), ("srv/b", "ok")]
    assert (await client.acall("primary", "x")).model_used == "srv/a"  # probed again, and it answers


async def test_a_probe_that_runs_into_the_deadline_gives_the_probe_back(
        make_client: Callable[..., Client], llm_server: LLMTestServer, clock: ManualClock) -> None:
    client = make_client(failures=1, max_retries=0, clock=clock)
    llm_server.script("a", [Status(500), Hang(5)])
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    clock.now += 30
    with pytest.raises(DeadlineExceededError) as info:
        await client.acall("solo", "x", deadline_s=0.2)
    assert [(a.outcome, a.error) for a in info.value.attempts] == [("error", "DeadlineExceededError")]
    assert re.fullmatch(r"the deadline ran out after 0\.\d{3}s for 'solo' \(1 attempt\(s\): srv/a error\)",
                        str(info.value))
    assert (await client.acall("solo", "x")).attempts[0].outcome == "ok"


async def test_no_retry_waits_past_the_deadline(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client()
    llm_server.script("a", [Status(429, retry_after=5)])  # waited for without a deadline (under 60 s)
    result = await client.acall("primary", "x", deadline_s=2)
    assert [(a.target, a.outcome, a.wait_s) for a in result.attempts] == [("srv/a", "error", 0.0),
                                                                          ("srv/b", "ok", 0.0)]


async def test_creating_a_provider_is_set_up(make_client: Callable[..., Client]) -> None:
    client = make_client()
    client.planner.plan("primary")  # the plan exists: only the provider is created by the call
    first = await client.acall("primary", "x")
    assert first.setup_s > 0
    assert (await client.acall("primary", "x")).setup_s == 0.0


async def test_the_deadline_error_lists_every_attempt(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(failures=10)
    llm_server.script("a", [Status(500), Hang(5)])
    with pytest.raises(DeadlineExceededError) as info:
        await client.acall("solo", "x", deadline_s=0.5)
    assert str(info.value).endswith("for 'solo' (2 attempt(s): srv/a error, srv/a error)")
