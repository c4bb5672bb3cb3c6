"""Streaming: fall back before the first chunk only; never replay or duplicate after it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable

import pytest

from tierflow.calls import Client
from tierflow.errors import AllTargetsFailedError, StreamInterruptedError
from tierflow.testing import Answer, CutStream, Garbage, LLMTestServer, SlowStream, Status

from .conftest import ManualClock


async def test_stream_delivers_chunks_and_result(client: Client, srv: LLMTestServer) -> None:
    stream = client.astream("primary", "tell me a story")
    texts = [chunk.text async for chunk in stream]
    result = stream.result
    assert result is not None and "".join(texts) == result.text == "echo: tell me a story"
    assert sum(1 for t in texts if t) > 1
    assert result.ttft_s is not None and 0 < result.ttft_s <= result.latency_s
    assert result.usage.output_tokens > 0 and result.cost_usd is not None and result.cost_usd > 0
    assert srv.requests[-1]["stream"] is True


async def test_fallback_before_first_chunk(client: Client, srv: LLMTestServer) -> None:
    srv.set_default("a", Status(500))
    result = await client.astream("primary", "hi there").collect()
    assert result.model_used == "srv/b" and result.text == "echo: hi there"
    assert [a.outcome for a in result.attempts] == ["error", "error", "error", "ok"]


async def test_cut_after_first_chunk_raises_and_never_replays(client: Client, srv: LLMTestServer) -> None:
    srv.script("a", [CutStream(after_chunks=2, text="one two three four five")])
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in client.astream("primary", "x"):
            received.append(chunk.text)
    assert len([t for t in received if t]) == 2
    assert "".join(received) == "one two"[: len("".join(received))]
    assert srv.count("a") == 1 and srv.count("b") == 0  # no retry, no fallback once committed
    assert info.value.target == "srv/a"
    assert [a.outcome for a in info.value.attempts] == ["error"]  # type: ignore[attr-defined]


async def test_idle_timeout_after_first_chunk_is_an_interruption(make_client: Callable[..., Client],
                                                                 srv: LLMTestServer) -> None:
    client = make_client(idle=0.2)
    srv.script("a", [SlowStream(chunk_delay=0.6, fast_chunks=1)])
    received: list[str] = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in client.astream("primary", "a b c"):
            received.append(chunk.text)
    assert len([t for t in received if t]) == 1 and srv.count("b") == 0


async def test_breaking_early_closes_the_upstream_stream(client: Client, srv: LLMTestServer) -> None:
    srv.script("a", [SlowStream(chunk_delay=0.2, fast_chunks=1, text="a b c d e f")])
    async with client.astream("primary", "x") as stream:
        async for _ in stream:
            break
    assert await srv.wait_for_disconnect("a", timeout=5)


async def test_stream_skips_cooling_target(make_client: Callable[..., Client], srv: LLMTestServer) -> None:
    client = make_client(failures=1, max_retries=0)
    srv.script("a", [Status(500)])
    await client.acall("primary", "x")
    result = await client.astream("primary", "y").collect()
    assert [a.outcome for a in result.attempts] == ["skipped_cooldown", "ok"] and srv.count("a") == 1


async def test_stream_all_targets_failed(client: Client, srv: LLMTestServer) -> None:
    srv.set_default("a", Status(401))
    with pytest.raises(AllTargetsFailedError):
        await client.astream("solo", "x").collect()
    assert srv.count("a") == 1


async def test_stream_usage_and_role_settings(client: Client, srv: LLMTestServer) -> None:
    srv.script("c", [Answer("short answer", input_tokens=9, output_tokens=2)])
    result = await client.astream("fast", "q").collect()
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 2)
    assert srv.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("half_open", [False, True])
async def test_break_without_closing_closes_the_upstream_and_gives_the_probe_back(
        make_client: Callable[..., Client], srv: LLMTestServer, clock: ManualClock, half_open: bool) -> None:
    client = make_client(failures=1, max_retries=0, clock=clock)
    if half_open:  # the stream's attempt is the breaker's single half-open probe
        srv.script("a", [Status(500)])
        with pytest.raises(AllTargetsFailedError):
            await client.acall("solo", "x")
        clock.now += 30
    srv.script("a", [SlowStream(chunk_delay=0.2, fast_chunks=1, text="a b c d e f")])
    gc.disable()  # nothing may wait for the garbage collector
    try:
        async for _ in client.astream("solo", "x"):
            break
        assert await srv.wait_for_disconnect("a", timeout=5)
        # the attempt ended without a verdict: the next call may try the target (and it answers)
        assert (await client.acall("solo", "y")).attempts[0].outcome == "ok"
    finally:
        gc.enable()


async def test_a_stream_is_in_no_reference_cycle(client: Client, srv: LLMTestServer) -> None:
    stream = client.astream("primary", "one two three")
    assert (await stream.__anext__()).text
    ref = weakref.ref(stream)
    gc.disable()
    try:
        del stream
        assert ref() is None  # freed by its reference count alone
    finally:
        gc.enable()


async def test_an_error_event_after_the_first_chunk_is_an_interruption_the_breaker_counts(
        make_client: Callable[..., Client], srv: LLMTestServer) -> None:
    client = make_client(failures=1)
    body = ('data: {"choices": [{"index": 0, "delta": {"content": "partial"}}]}\n\n'
            'data: {"error": {"code": 503, "message": "overloaded"}}\n\n')
    srv.script("a", [Garbage(body, content_type="text/event-stream")])
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in client.astream("solo", "x"):
            received.append(chunk.text)
    assert received == ["partial"] and info.value.status_code == 503
    assert [(a.outcome, a.error, a.status_code) for a in info.value.attempts] == [
        ("error", "StreamInterruptedError", 503)]
    with pytest.raises(AllTargetsFailedError) as skipped:  # the interruption opened the breaker
        await client.astream("solo", "y").collect()
    assert [a.outcome for a in skipped.value.attempts] == ["skipped_cooldown"]


async def test_a_streamed_result_keeps_finish_reason_and_logprobs(client: Client, srv: LLMTestServer) -> None:
    srv.script("a", [Answer("a b c", finish_reason="length")])
    result = await client.astream("solo", "x", logprobs=True).collect()
    assert result.finish_reason == "length"
    assert result.logprobs is not None and "".join(lp.token for lp in result.logprobs) == "a b c"
