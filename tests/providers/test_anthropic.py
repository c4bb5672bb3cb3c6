"""The Anthropic Messages adapter against the test server speaking Anthropic's wire format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tierflow.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from tierflow.providers.anthropic import AnthropicProvider
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.testing import Answer, LLMTestServer, Status
from tierflow.types import ChatRequest, StreamChunk

KEY = "sk-ant-api03-SECRET-abcdefghijklmnop"
T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)


@pytest.fixture
async def provider(llm_server: LLMTestServer) -> AsyncIterator[AnthropicProvider]:
    p = create_provider("claude", ProviderSettings(kind="anthropic", base_url=llm_server.base_url, api_key=KEY))
    assert isinstance(p, AnthropicProvider)
    yield p
    await p.aclose()


def req(text: str = "hello world", model: str = "c", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


async def collect(p: AnthropicProvider, request: ChatRequest, timeouts: Timeouts = T) -> list[StreamChunk]:
    return [c async for c in p.stream(request, timeouts=timeouts)]


async def test_wire_shape_system_max_tokens_and_headers(provider: AnthropicProvider, llm_server: LLMTestServer) -> None:
    r = await provider.complete(req("hi there", temperature=0.5, stop=["END"]), timeouts=T)
    assert r.text == "echo: hi there" and r.finish_reason == "stop" and r.logprobs is None
    got = llm_server.received[-1]
    assert got.path == "/v1/messages" and got.body["system"] == "be brief"
    assert [m["role"] for m in got.body["messages"]] == ["user"]
    assert got.body["max_tokens"] == 1024 and got.body["stop_sequences"] == ["END"]
    assert got.body["temperature"] == 0.5
    assert got.headers["x-api-key"] == KEY and got.headers["anthropic-version"] == "2023-06-01"


async def test_usage_counts_cache_reads_as_cached_input(provider: AnthropicProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("c", [Answer("ok", input_tokens=100, cached_tokens=60)] * 2)
    r = await provider.complete(req(), timeouts=T)
    assert (r.usage.input_tokens, r.usage.cached_tokens, r.usage.output_tokens) == (100, 60, 1)
    assert llm_server.received[-1].body["max_tokens"] == 1024
    chunks = await collect(provider, req())
    last = [c.usage for c in chunks if c.usage][-1]
    assert (last.input_tokens, last.cached_tokens, last.output_tokens) == (100, 60, 1)


async def test_max_tokens_truncates_with_length(provider: AnthropicProvider, llm_server: LLMTestServer) -> None:
    r = await provider.complete(req("a b c d e f", max_tokens=3), timeouts=T)
    assert r.finish_reason == "length" and len(r.text.split()) == 3
    assert llm_server.received[-1].body["max_tokens"] == 3


async def test_stream_joins_to_the_answer(provider: AnthropicProvider) -> None:
    full = await provider.complete(req("stream this one"), timeouts=T)
    chunks = await collect(provider, req("stream this one"))
    assert "".join(c.text for c in chunks) == full.text
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None
    assert chunks[-1].usage.output_tokens == full.usage.output_tokens


async def test_json_output_through_a_forced_tool(provider: AnthropicProvider, llm_server: LLMTestServer) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    r = await provider.complete(req(response_format=fmt), timeouts=T)
    assert json.loads(r.text) == {"city": "text", "n": 1} and r.finish_reason == "stop"
    body = llm_server.received[-1].body
    assert body["tool_choice"] == {"type": "tool", "name": "json_output"}
    assert body["tools"][0]["input_schema"] == schema
    streamed = "".join(c.text for c in await collect(provider, req(response_format=fmt)))
    assert json.loads(streamed) == {"city": "text", "n": 1}
    obj = json.loads((await provider.complete(req(response_format={"type": "json_object"}), timeouts=T)).text)
    assert isinstance(obj, dict)


async def test_non_object_schema_is_wrapped_and_unwrapped(provider: AnthropicProvider) -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    assert json.loads((await provider.complete(req(response_format=fmt), timeouts=T)).text) == []
    assert json.loads("".join(c.text for c in await collect(provider, req(response_format=fmt)))) == []


@pytest.mark.parametrize(("code", "cls"), [(400, BadRequestError), (401, AuthenticationError),
                                           (403, PermissionDeniedError), (404, NotFoundError),
                                           (429, RateLimitError), (500, ServerError), (529, ServerError)])
async def test_status_mapping(provider: AnthropicProvider, llm_server: LLMTestServer, code: int,
                              cls: type[ProviderError]) -> None:
    llm_server.script("c", [Status(code, message="nope", retry_after=3)])
    with pytest.raises(cls) as info:
        await provider.complete(req(), timeouts=T)
    assert info.value.status_code == code and "nope" in str(info.value) and info.value.retry_after_s == 3.0


async def test_missing_max_tokens_is_rejected_by_the_server(llm_server: LLMTestServer) -> None:
    """The server enforces the real API's rule, so an adapter that forgot max_tokens would fail."""
    p = AnthropicProvider("claude", ProviderSettings(kind="anthropic", base_url=llm_server.base_url))
    try:
        with pytest.raises(BadRequestError, match="max_tokens"):
            await p.complete(req(extra={"max_tokens": None}), timeouts=T)
    finally:
        await p.aclose()


async def test_base_url_with_v1_is_not_doubled(llm_server: LLMTestServer) -> None:
    p = AnthropicProvider("claude", ProviderSettings(kind="anthropic", base_url=llm_server.base_url + "/v1/"))
    try:
        assert (await p.complete(req(), timeouts=T)).text
    finally:
        await p.aclose()
    assert llm_server.received[-1].path == "/v1/messages" and "x-api-key" not in llm_server.received[-1].headers


async def test_top_p_is_sent_and_penalties_are_refused_before_sending(provider: AnthropicProvider,
                                                                      llm_server: LLMTestServer) -> None:
    await provider.complete(req(extra={"top_p": 0.5, "presence_penalty": 0}), timeouts=T)
    assert llm_server.received[-1].body["top_p"] == 0.5 and "presence_penalty" not in llm_server.received[-1].body
    sent = len(llm_server.received)
    with pytest.raises(BadRequestError, match="'frequency_penalty' does not exist in Anthropic"):
        await provider.complete(req(extra={"frequency_penalty": 0.5}), timeouts=T)
    with pytest.raises(BadRequestError, match="'presence_penalty'"):
        await collect(provider, req(extra={"presence_penalty": 1}))
    assert len(llm_server.received) == sent  # nothing reached the upstream


async def test_image_parts_become_image_blocks(provider: AnthropicProvider, llm_server: LLMTestServer) -> None:
    parts = [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?x=1"}}]
    r = await provider.complete(ChatRequest(model="c", messages=[{"role": "user", "content": parts}]), timeouts=T)
    assert r.text.startswith("echo:")
    assert llm_server.received[-1].body["messages"][0]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp?x=1"}}]
    bad = [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]
    with pytest.raises(BadRequestError, match=r"messages\[0\]: an image part"):
        await provider.complete(ChatRequest(model="c", messages=[{"role": "user", "content": bad}]), timeouts=T)
