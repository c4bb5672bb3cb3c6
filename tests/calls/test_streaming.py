"""Streaming: fall back before the first chunk only; never replay or duplicate after it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator, Callable

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import AllTargetsFailedError, DeadlineExceededError, ServerError, StreamInterruptedError
from tierflow.providers.base import Provider, Timeouts
from tierflow.testing import Answer, CutStream, Garbage, LLMTestServer, SlowStream, Status
from tierflow.types import ChatRequest, ChatResponse, StreamChunk, Usage

from .conftest import ManualClock


async def test_stream_delivers_chunks_and_result(client: Client, llm_server: LLMTestServer) -> None:
    stream = client.astream("primary", "tell me a story")
    texts = [chunk.text async for chunk in stream]
    result = stream.result
    assert result is not None and "".join(texts) == result.text == "echo: tell me a story"
    assert sum(1 for t in texts if t) > 1
    assert result.ttft_s is not None and 0 < result.ttft_s <= result.latency_s
    assert result.usage.output_tokens > 0 and result.cost_usd is not None and result.cost_usd > 0
    assert llm_server.requests[-1]["stream"] is True


async def test_fallback_before_first_chunk(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(500))
    result = await client.astream("primary", "hi there").collect()
    assert result.model_used == "srv/b" and result.text == "echo: hi there"
    assert [a.outcome for a in result.attempts] == ["error", "error", "error", "ok"]


async def test_cut_after_first_chunk_raises_and_never_replays(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [CutStream(after_chunks=2, text="one two three four five")])
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in client.astream("primary", "x"):
            received.append(chunk.text)
    assert len([t for t in received if t]) == 2
    assert "".join(received) == "one two"[: len("".join(received))]
    assert llm_server.count("a") == 1 and llm_server.count("b") == 0  # no retry, no fallback once committed
    assert info.value.target == "srv/a"
    assert [a.outcome for a in info.value.attempts] == ["error"]  # type: ignore[attr-defined]


async def test_idle_timeout_after_first_chunk_is_an_interruption(make_client: Callable[..., Client],
                                                                 llm_server: LLMTestServer) -> None:
    client = make_client(idle=0.2)
    llm_server.script("a", [SlowStream(chunk_delay=0.6, fast_chunks=1)])
    received: list[str] = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in client.astream("primary", "a b c"):
            received.append(chunk.text)
    assert len([t for t in received if t]) == 1 and llm_server.count("b") == 0


async def test_breaking_early_closes_the_upstream_stream(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [SlowStream(chunk_delay=0.2, fast_chunks=1, text="a b c d e f")])
    async with client.astream("primary", "x") as stream:
        async for _ in stream:
            break
    assert await llm_server.wait_for_disconnect("a", timeout=5)


async def test_stream_skips_cooling_target(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(failures=1, max_retries=0)
    llm_server.script("a", [Status(500)])
    await client.acall("primary", "x")
    result = await client.astream("primary", "y").collect()
    assert [a.outcome for a in result.attempts] == ["skipped_cooldown", "ok"] and llm_server.count("a") == 1


async def test_stream_all_targets_failed(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(401))
    with pytest.raises(AllTargetsFailedError):
        await client.astream("solo", "x").collect()
    assert llm_server.count("a") == 1


async def test_stream_usage_and_role_settings(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("c", [Answer("short answer", input_tokens=9, output_tokens=2)])
    result = await client.astream("fast", "q").collect()
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 2)
    assert llm_server.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize("half_open", [False, True])
async def test_break_without_closing_closes_the_upstream_and_gives_the_probe_back(
        make_client: Callable[..., Client], llm_server: LLMTestServer, clock: ManualClock, half_open: bool) -> None:
    client = make_client(failures=1, max_retries=0, clock=clock)
    if half_open:  # the stream's attempt is the breaker's single half-open probe
        llm_server.script("a", [Status(500)])
        with pytest.raises(AllTargetsFailedError):
            await client.acall("solo", "x")
        clock.now += 30
    llm_server.script("a", [SlowStream(chunk_delay=0.2, fast_chunks=1, text="a b c d e f")])
    gc.disable()  # nothing may wait for the garbage collector
    try:
        async for _ in client.astream("solo", "x"):
            break
        assert await llm_server.wait_for_disconnect("a", timeout=5)
        # the attempt ended without a verdict: the next call may try the target (and it answers)
        assert (await client.acall("solo", "y")).attempts[0].outcome == "ok"
    finally:
        gc.enable()


async def test_a_stream_is_in_no_reference_cycle(client: Client, llm_server: LLMTestServer) -> None:
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
        make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(failures=1)
    body = ('data: {"choices": [{"index": 0, "delta": {"content": "partial"}}]}\n\n'
            'data: {"error": {"code": 503, "message": "overloaded"}}\n\n')
    llm_server.script("a", [Garbage(body, content_type="text/event-stream")])
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


async def test_a_streamed_result_keeps_finish_reason_and_logprobs(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Answer("a b c", finish_reason="length")])
    result = await client.astream("solo", "x", logprobs=True).collect()
    assert result.finish_reason == "length"
    assert result.logprobs is not None and "".join(lp.token for lp in result.logprobs) == "a b c"


# --- a provider that does not watch the clock itself: the call layer's timers bound its streams -------

class _Scripted(Provider):
    """Streams what ``script`` says: ("chunk", text), ("sleep", seconds), ("raise", error); ends after it."""

    kind = "openai"

    def __init__(self, name: str, settings: object, script: list[tuple[str, object]]) -> None:
        super().__init__(name, settings)  # type: ignore[arg-type]
        self.script = script
        self.closed = 0

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        raise NotImplementedError

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[StreamChunk]:
        try:
            for action, value in self.script:
                if action == "chunk":
                    yield StreamChunk(text=str(value))
                elif action == "sleep":
                    await asyncio.sleep(value)  # type: ignore[arg-type]
                else:
                    raise value  # type: ignore[misc]
        finally:
            self.closed += 1


def _scripted(script: list[tuple[str, object]], total: float = 5.0) -> tuple[Client, _Scripted]:
    config = parse_config(f"""
providers:
  slow: {{kind: openai, base_url: "http://127.0.0.1:9/v1", timeouts: {{connect: 1, total: {total}}}}}
models:
  - {{role: primary, ref: slow, model: m}}
reliability: {{max_retries: 0, cooldown: {{failures: 1, seconds: 30}}}}
""", source="test.yaml")
    provider = _Scripted("slow", config.provider_settings("slow"), script)
    return Client(config, providers={"slow": provider}), provider


async def test_no_first_chunk_within_the_total_is_a_timeout() -> None:
    client, provider = _scripted([("sleep", 10), ("chunk", "late")], total=0.1)
    with pytest.raises(AllTargetsFailedError) as info:
        await client.astream("primary", "x").collect()
    assert [(a.outcome, a.error) for a in info.value.attempts] == [("error", "APITimeoutError")]
    assert "last error: slow/m: no first chunk within 0.1s" in str(info.value)
    assert provider.closed == 1  # the provider's stream was closed, not left waiting


async def test_a_stream_that_ends_before_its_first_chunk_is_a_bad_answer() -> None:
    client, _ = _scripted([])
    with pytest.raises(AllTargetsFailedError) as info:
        await client.astream("primary", "x").collect()
    assert [a.error for a in info.value.attempts] == ["ResponseFormatError"]
    assert "last error: slow/m: the stream ended before its first chunk" in str(info.value)


async def test_the_deadline_before_the_first_chunk() -> None:
    client, provider = _scripted([("sleep", 10), ("chunk", "late")])
    with pytest.raises(DeadlineExceededError) as info:
        await client.astream("primary", "x", deadline_s=0.1).collect()
    assert [(a.outcome, a.error) for a in info.value.attempts] == [("error", "DeadlineExceededError")]
    assert isinstance(info.value.__cause__, TimeoutError) and provider.closed == 1


async def test_a_stall_after_the_first_chunk_is_an_interruption() -> None:
    client, provider = _scripted([("chunk", "one"), ("sleep", 10), ("chunk", "late")], total=0.2)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in client.astream("primary", "x"):
            received.append(chunk.text)
    assert received == ["one"] and provider.closed == 1
    err = info.value
    assert (err.target, err.status_code) == ("slow/m", None)
    assert str(err) == ("slow/m: the stream failed after 1 chunk(s) (TimeoutError); the chunks already delivered "
                        "stand, nothing is replayed")
    assert [(a.outcome, a.error) for a in err.attempts] == [("error", "TimeoutError")]
    assert isinstance(err.__cause__, TimeoutError)


async def test_a_provider_error_after_the_first_chunks_is_an_interruption_with_its_status() -> None:
    client, _ = _scripted([("chunk", "one"), ("chunk", "two"), ("raise", ServerError("boom", status_code=503))])
    with pytest.raises(StreamInterruptedError) as info:
        await client.astream("primary", "x").collect()
    assert info.value.status_code == 503 and "failed after 2 chunk(s) (ServerError)" in str(info.value)
    assert [(a.error, a.status_code) for a in info.value.attempts] == [("ServerError", 503)]
    with pytest.raises(AllTargetsFailedError):  # the breaker counted it
        await client.astream("primary", "x").collect()


async def test_the_deadline_after_the_first_chunk() -> None:
    client, _ = _scripted([("chunk", "one"), ("sleep", 10)])
    with pytest.raises(DeadlineExceededError) as info:
        await client.astream("primary", "x", deadline_s=0.2).collect()
    assert [a.error for a in info.value.attempts] == ["DeadlineExceededError"]
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_a_streams_own_timeout_error_is_not_taken_for_the_call_layers() -> None:
    client, _ = _scripted([("chunk", "one"), ("raise", TimeoutError("the provider's own"))])
    with pytest.raises(TimeoutError, match="the provider's own"):
        await client.astream("primary", "x").collect()


async def test_an_upstream_without_aclose_is_fine() -> None:
    class _Bare:
        def __aiter__(self) -> _Bare:
            return self

        async def __anext__(self) -> StreamChunk:
            raise ServerError("down", status_code=503)

    client, provider = _scripted([])
    provider.stream = lambda request, *, timeouts: _Bare()  # type: ignore[method-assign]
    with pytest.raises(AllTargetsFailedError) as info:
        await client.astream("primary", "x").collect()
    assert [a.error for a in info.value.attempts] == ["ServerError"]


async def test_a_stream_without_finish_reason_or_usage() -> None:
    client, _ = _scripted([("chunk", "hi")])  # a custom provider that reports neither
    result = await client.astream("primary", "x").collect()
    assert (result.text, result.finish_reason, result.usage, result.logprobs) == ("hi", None, Usage(), None)


async def test_an_upstream_that_is_not_a_generator_is_closed_when_it_fails() -> None:
    class _Response:
        closed = 0

        def __aiter__(self) -> _Response:
            return self

        async def __anext__(self) -> StreamChunk:
            raise ServerError("down", status_code=503)

        async def aclose(self) -> None:
            _Response.closed += 1

    client, provider = _scripted([])
    provider.stream = lambda request, *, timeouts: _Response()  # type: ignore[method-assign]
    with pytest.raises(AllTargetsFailedError):
        await client.astream("primary", "x").collect()
    assert _Response.closed == 1


async def test_an_http_stream_without_usage_has_it_estimated(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Garbage('data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\ndata: [DONE]\n\n',
                             content_type="text/event-stream")])
    result = await client.astream("solo", "x").collect()
    assert (result.text, result.finish_reason, result.logprobs) == ("hi", None, None)
    assert result.usage.estimated and result.usage.output_tokens >= 1  # no usage sent: estimated (README, Providers)


async def test_the_committed_target_is_known_at_the_first_chunk(client: Client, llm_server: LLMTestServer) -> None:
    """``stream.target`` names what serves before the stream ends (after a fallback, the fallback)."""
    llm_server.set_default("a", Status(500))
    stream = client.astream("primary", "hi there")
    assert stream.target is None
    first = await stream.__anext__()
    assert first is not None and stream.target == "srv/b" and stream.provider == "srv"
    assert stream.result is None  # not ended yet
    await stream.aclose()
