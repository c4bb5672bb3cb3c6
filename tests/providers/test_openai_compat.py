"""The OpenAI-compatible adapter against the real loopback test server (no patched clients)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
import traceback
from collections.abc import AsyncIterator

import pytest

from tierflow.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.providers.openai_compat import AzureOpenAIProvider, OpenAIProvider
from tierflow.testing import Answer, CutStream, Garbage, Hang, LLMTestServer, SlowStream, Status
from tierflow.types import ChatRequest, StreamChunk

KEY = "sk-test-SECRET-0123456789abcdef"
T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)


@pytest.fixture
async def provider(llm_server: LLMTestServer) -> AsyncIterator[OpenAIProvider]:
    p = create_provider("oai", ProviderSettings(kind="openai", base_url=llm_server.base_url, api_key=KEY))
    assert isinstance(p, OpenAIProvider)
    yield p
    await p.aclose()


def req(text: str = "hello world", model: str = "m", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


async def collect(p: OpenAIProvider, request: ChatRequest, timeouts: Timeouts = T) -> list[StreamChunk]:
    return [c async for c in p.stream(request, timeouts=timeouts)]


async def test_complete_returns_text_usage_and_model(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Answer("the answer", input_tokens=12, cached_tokens=8, reasoning_tokens=5)])
    r = await provider.complete(req(), timeouts=T)
    assert r.text == "the answer"
    assert (r.usage.input_tokens, r.usage.output_tokens) == (12, 2 + 5)
    assert (r.usage.cached_tokens, r.usage.reasoning_tokens) == (8, 5)
    assert r.finish_reason == "stop" and r.model == "m"
    assert llm_server.count("m") == 1


async def test_default_answer_derives_from_last_user_message(provider: OpenAIProvider) -> None:
    a = await provider.complete(req("first prompt"), timeouts=T)
    b = await provider.complete(req("second prompt"), timeouts=T)
    assert "first prompt" in a.text and "second prompt" in b.text and a.text != b.text


async def test_parameters_reach_the_wire(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    fmt = {"type": "json_object"}
    await provider.complete(req(temperature=0.3, max_tokens=7, stop=["\n"], seed=42, response_format=fmt,
                                extra={"user": "u1"}), timeouts=T)
    body = llm_server.requests[-1]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7 and body["stop"] == ["\n"]
    assert body["seed"] == 42 and body["response_format"] == fmt and body["user"] == "u1"
    assert "stream" not in body and "logprobs" not in body
    assert llm_server.received[-1].headers["Authorization"] == f"Bearer {KEY}"


async def test_max_tokens_and_stop_shape_the_answer(provider: OpenAIProvider) -> None:
    r = await provider.complete(req("one two three four five", max_tokens=2), timeouts=T)
    assert r.finish_reason == "length" and len(r.text.split()) == 2
    r = await provider.complete(req("alpha beta gamma", stop=["beta"]), timeouts=T)
    assert "beta" not in r.text and "alpha" in r.text


async def test_json_object_and_json_schema_answers_parse(provider: OpenAIProvider) -> None:
    r = await provider.complete(req(response_format={"type": "json_object"}), timeouts=T)
    assert isinstance(json.loads(r.text), dict)
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    obj = json.loads((await provider.complete(req(response_format=fmt), timeouts=T)).text)
    assert isinstance(obj["name"], str) and isinstance(obj["age"], int)


async def test_logprobs_are_parsed(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    r = await provider.complete(req("a b", logprobs=True, top_logprobs=3), timeouts=T)
    assert llm_server.requests[-1]["logprobs"] is True and llm_server.requests[-1]["top_logprobs"] == 3
    assert r.logprobs is not None and "".join(t.token for t in r.logprobs) == r.text
    assert all(len(t.top) == 3 and t.logprob < 0 for t in r.logprobs)


async def test_stream_chunks_join_to_the_answer_with_usage(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    full = await provider.complete(req("stream me please"), timeouts=T)
    llm_server.script("m", [Answer(cached_tokens=1)])
    chunks = await collect(provider, req("stream me please"))
    assert "".join(c.text for c in chunks) == full.text
    assert sum(1 for c in chunks if c.text) >= 3
    usages = [c.usage for c in chunks if c.usage]
    assert usages and usages[-1].output_tokens == full.usage.output_tokens and usages[-1].cached_tokens == 1
    assert any(c.finish_reason == "stop" for c in chunks)
    body = llm_server.requests[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_stream_logprobs(provider: OpenAIProvider) -> None:
    chunks = await collect(provider, req("x y", logprobs=True, top_logprobs=2))
    lps = [t for c in chunks if c.logprobs for t in c.logprobs]
    assert "".join(t.token for t in lps) == "".join(c.text for c in chunks)


@pytest.mark.parametrize(("code", "cls", "retryable"), [
    (400, BadRequestError, False), (401, AuthenticationError, False), (403, PermissionDeniedError, False),
    (404, NotFoundError, False), (422, UnprocessableEntityError, False), (429, RateLimitError, True),
    (408, ServerError, True), (409, ServerError, True), (500, ServerError, True), (503, ServerError, True),
    (418, APIStatusError, False)])
async def test_status_codes_map_to_error_classes(provider: OpenAIProvider, llm_server: LLMTestServer, code: int,
                                                 cls: type[ProviderError], retryable: bool) -> None:
    llm_server.script("m", [Status(code, message=f"upstream says {code}")])
    with pytest.raises(cls) as info:
        await provider.complete(req(), timeouts=T)
    err = info.value
    assert type(err) is cls and err.status_code == code and err.retryable is retryable
    assert "oai/m" in str(err) and str(code) in str(err) and f"upstream says {code}" in str(err)


async def test_status_errors_on_stream_requests(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Status(503)])
    with pytest.raises(ServerError):
        await collect(provider, req())


@pytest.mark.parametrize(("status", "expected"), [
    (Status(429, retry_after=2), 2.0), (Status(429, retry_after_ms=250), 0.25),
    (Status(503, retry_after=7, retry_after_ms=1500), 1.5), (Status(429), None),
    (Status(429, retry_after="soon"), None)])
async def test_retry_after_headers(provider: OpenAIProvider, llm_server: LLMTestServer, status: Status,
                                   expected: float | None) -> None:
    llm_server.script("m", [status])
    with pytest.raises(APIStatusError) as info:
        await provider.complete(req(), timeouts=T)
    assert info.value.retry_after_s == expected


async def test_retry_after_http_date(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Status(429, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True))])
    with pytest.raises(RateLimitError) as info:
        await provider.complete(req(), timeouts=T)
    assert info.value.retry_after_s is not None and 25 <= info.value.retry_after_s <= 31


async def test_hang_hits_the_total_timeout(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Hang(30)])
    with pytest.raises(APITimeoutError) as info:
        await provider.complete(req(), timeouts=Timeouts(connect=1, total=0.2, stream_idle=5))
    assert "timeout" in str(info.value) and info.value.retryable
    assert await llm_server.wait_for_disconnect("m")


async def test_stream_idle_timeout_before_and_after_first_chunk(provider: OpenAIProvider,
                                                                llm_server: LLMTestServer) -> None:
    tight = Timeouts(connect=1, total=10, stream_idle=0.15)
    llm_server.script("m", [SlowStream(chunk_delay=2), SlowStream(chunk_delay=2, fast_chunks=1)])
    with pytest.raises(APITimeoutError):
        await collect(provider, req(), tight)
    got: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for c in provider.stream(req("a b c d"), timeouts=tight):
            got.append(c.text)
    assert got == ["echo:"] and "APITimeoutError" in str(info.value)
    assert isinstance(info.value.__cause__, APITimeoutError)


async def test_cut_stream_after_chunks_is_interrupted(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [CutStream(after_chunks=2)])
    got: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for c in provider.stream(req("one two three four"), timeouts=T):
            got.append(c.text)
    assert len(got) == 2 and not info.value.retryable and not info.value.fallbackable


async def test_cut_before_first_chunk_is_a_connection_error(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [CutStream(after_chunks=0), CutStream(after_chunks=0)])
    with pytest.raises(APIConnectionError) as info:
        await collect(provider, req())
    assert info.value.fallbackable
    with pytest.raises(APIConnectionError):  # non-streamed: body cut half-way
        await provider.complete(req(), timeouts=T)


async def test_garbage_is_a_response_format_error(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Garbage("<html>oops</html>"), Garbage('{"no": "choices"}'), Garbage("not json")])
    with pytest.raises(ResponseFormatError, match="oops"):
        await provider.complete(req(), timeouts=T)
    with pytest.raises(ResponseFormatError, match="choices"):
        await provider.complete(req(), timeouts=T)
    with pytest.raises(ResponseFormatError):
        await collect(provider, req())


async def test_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAIProvider("down", ProviderSettings(kind="openai", base_url=f"http://127.0.0.1:{port}/v1"))
    try:
        with pytest.raises(APIConnectionError) as info:
            await p.complete(req(), timeouts=T)
        assert "down/m" in str(info.value)
    finally:
        await p.aclose()


async def test_cancelling_a_hanging_call_closes_the_upstream_request(provider: OpenAIProvider,
                                                                     llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Hang(30)])
    task = asyncio.create_task(provider.complete(req(), timeouts=T))
    while llm_server.count("m") == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await llm_server.wait_for_disconnect("m", timeout=3)


async def test_cancelling_a_stream_closes_the_upstream_request(provider: OpenAIProvider,
                                                               llm_server: LLMTestServer) -> None:
    llm_server.script("m", [SlowStream(chunk_delay=0.5, fast_chunks=1)])
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(req("a b c d e f"), timeouts=T):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await llm_server.wait_for_disconnect("m", timeout=3)


async def test_api_key_never_appears_in_errors(llm_server: LLMTestServer) -> None:
    p = OpenAIProvider("oai", ProviderSettings(kind="openai", base_url=llm_server.base_url, api_key=KEY))
    llm_server.script("m", [Status(401, message=f"Incorrect API key provided: {KEY}"), Hang(30), Garbage(KEY)])
    errors: list[BaseException] = []
    for timeouts in (T, Timeouts(connect=1, total=0.1, stream_idle=1), T):
        try:
            await p.complete(req(), timeouts=timeouts)
        except ProviderError as exc:
            errors.append(exc)
    await p.aclose()
    assert [type(e) for e in errors] == [AuthenticationError, APITimeoutError, ResponseFormatError]
    for e in errors:
        text = str(e) + repr(e) + "".join(traceback.format_exception(e))
        assert KEY not in text and KEY[3:15] not in text
    assert KEY not in repr(p._headers) and KEY not in repr(p.settings)


async def test_base_url_forms(llm_server: LLMTestServer) -> None:
    for base in (llm_server.base_url, llm_server.base_url + "/", llm_server.base_url + "/v1", llm_server.base_url + "/v1/chat/completions"):
        p = OpenAIProvider("x", ProviderSettings(kind="openai", base_url=base))
        try:
            assert (await p.complete(req(), timeouts=T)).text
        finally:
            await p.aclose()
        assert llm_server.received[-1].path == "/v1/chat/completions"
        assert "Authorization" not in llm_server.received[-1].headers  # no key configured, none sent


async def test_azure_uses_deployment_url_api_version_and_api_key(llm_server: LLMTestServer) -> None:
    p = create_provider("az", ProviderSettings(kind="azure", base_url=llm_server.base_url, api_key=KEY,
                                               api_version="2024-06-01"))
    assert isinstance(p, AzureOpenAIProvider)
    try:
        r = await p.complete(req(model="my-deploy"), timeouts=T)
        chunks = await collect(p, req(model="my-deploy"))  # type: ignore[arg-type]
    finally:
        await p.aclose()
    assert r.text == "".join(c.text for c in chunks)
    got = llm_server.received[-1]
    assert got.path == "/openai/deployments/my-deploy/chat/completions"
    assert got.headers["api-key"] == KEY and "Authorization" not in got.headers
    assert llm_server.count("my-deploy") == 2


async def test_provider_survives_a_new_event_loop(llm_server: LLMTestServer) -> None:
    """A provider used from a sync twin (another loop) gets a fresh session there."""
    p = OpenAIProvider("oai", ProviderSettings(kind="openai", base_url=llm_server.base_url))
    first = await p.complete(req("one"), timeouts=T)

    def other_loop() -> str:
        async def go() -> str:
            try:
                return (await p.complete(req("two"), timeouts=T)).text
            finally:
                await p.aclose()
        return asyncio.run(go())

    second = await asyncio.to_thread(other_loop)
    assert "one" in first.text and "two" in second
    await p.aclose()
    await p.aclose()  # twice is fine


async def test_sse_parsing_tolerates_comments_crlf_and_multiline_data(provider: OpenAIProvider,
                                                                      llm_server: LLMTestServer) -> None:
    def event(obj: dict, sep: str = "\n") -> str:
        return "data:" + json.dumps(obj) + sep + sep

    a = {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    b = {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}
    split_b = json.dumps(b).replace(", ", ",\ndata: ", 1)  # one JSON object over two data lines
    body = (": keep-alive\n\n" + event(a, "\r\n") + "data: " + split_b + "\n\n"
            + "data: " + json.dumps({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
            + "\n\ndata: [DONE]")  # last event without its blank line
    llm_server.script("m", [Garbage(body, content_type="text/event-stream")])
    chunks = await collect(provider, req())
    assert "".join(c.text for c in chunks) == "Hello"
    assert [c.usage for c in chunks if c.usage][-1].output_tokens == 2


async def test_stream_ending_without_done_or_finish_is_a_connection_error(provider: OpenAIProvider,
                                                                          llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Garbage("data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]}) + "\n\n",
                             content_type="text/event-stream")])
    with pytest.raises(StreamInterruptedError, match="without"):
        await collect(provider, req())


async def test_stopping_a_stream_early_closes_the_upstream_request(provider: OpenAIProvider,
                                                                   llm_server: LLMTestServer) -> None:
    llm_server.script("m", [SlowStream(chunk_delay=0.3, fast_chunks=1)])
    stream = provider.stream(req("a b c d e f"), timeouts=T)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert first.text == "echo:"
    assert await llm_server.wait_for_disconnect("m", timeout=3)


async def test_error_object_inside_a_200_answer(provider: OpenAIProvider, llm_server: LLMTestServer) -> None:
    """Gateways (OpenRouter...) sometimes answer 200 with an error object, in JSON or mid-stream."""
    llm_server.script("m", [Garbage(json.dumps({"error": {"message": "upstream overloaded", "code": 503}})),
                     Garbage("data: " + json.dumps({"error": {"message": "rate limited", "code": 429}}) + "\n\n",
                             content_type="text/event-stream")])
    with pytest.raises(ServerError, match="upstream overloaded"):
        await provider.complete(req(), timeouts=T)
    with pytest.raises(RateLimitError, match="rate limited"):
        await collect(provider, req())


async def test_options_max_tokens_field_and_stream_usage(llm_server: LLMTestServer) -> None:
    p = OpenAIProvider("gw", ProviderSettings(kind="openai", base_url=llm_server.base_url, headers={"X-Title": "tierflow"},
                                              options={"max_tokens_field": "max_completion_tokens",
                                                       "stream_usage": False}))
    try:
        await p.complete(req(max_tokens=5), timeouts=T)
        chunks = await collect(p, req())
    finally:
        await p.aclose()
    first, second = llm_server.received[-2:]
    assert first.body["max_completion_tokens"] == 5 and "max_tokens" not in first.body
    assert "stream_options" not in second.body and second.headers["X-Title"] == "tierflow"
    # the server sent no usage: the stream ends with an estimate, marked as such (never a silent zero)
    assert [c.usage.estimated for c in chunks if c.usage] == [True] and "".join(c.text for c in chunks)
    assert OpenAIProvider("o", ProviderSettings(kind="openai"))._max_tokens_field == "max_completion_tokens"
