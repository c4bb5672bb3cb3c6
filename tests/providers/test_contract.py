"""The failure contract every HTTP provider keeps, run against each wire format.

Timeouts, garbage, streams cut before or after their first chunk, idle streams, cancellation
and secrets map to the same error classes whatever the protocol, so the call layer can retry,
fall back or give up the same way for all of them.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator

import pytest

from tierflow.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ProviderError,
    ResponseFormatError,
    StreamInterruptedError,
)
from tierflow.providers.base import Provider, ProviderSettings, Timeouts, create_provider
from tierflow.testing import CutStream, Garbage, Hang, LLMTestServer, SlowStream, Status
from tierflow.types import ChatRequest

T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)
# kind -> (API key, how that provider answers a bad key: Gemini says 400, the others 401)
KINDS: dict[str, tuple[str, int, type[ProviderError]]] = {
    "openai": ("sk-test-SECRET-0123456789abcdef", 401, AuthenticationError),
    "anthropic": ("sk-ant-api03-SECRET-abcdefghijklmnop", 401, AuthenticationError),
    "gemini": ("AIzaSECRET-0123456789abcdefghij", 400, BadRequestError),
}


@pytest.fixture(params=sorted(KINDS))
async def provider(request: pytest.FixtureRequest, llm_server: LLMTestServer) -> AsyncIterator[Provider]:
    key = KINDS[request.param][0]
    p = create_provider(request.param, ProviderSettings(kind=request.param, base_url=llm_server.base_url, api_key=key))
    yield p
    await p.aclose()


def req(text: str = "hello world") -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": text}])


async def collect(p: Provider, request: ChatRequest, timeouts: Timeouts = T) -> list[str]:
    return [c.text async for c in p.stream(request, timeouts=timeouts)]


async def test_failures_map_to_the_same_error_classes(provider: Provider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Hang(30), Garbage("<html>bad gateway</html>"), CutStream(after_chunks=0),
                     CutStream(after_chunks=2), SlowStream(chunk_delay=2, fast_chunks=1)])
    with pytest.raises(APITimeoutError):
        await provider.complete(req(), timeouts=Timeouts(connect=1, total=0.2, stream_idle=1))
    with pytest.raises(ResponseFormatError):
        await provider.complete(req(), timeouts=T)
    with pytest.raises(APIConnectionError):  # cut before the first chunk: safe to fall back
        await collect(provider, req())
    got: list[str] = []
    with pytest.raises(StreamInterruptedError):  # cut after chunks were delivered: never replayed
        async for chunk in provider.stream(req("one two three four"), timeouts=T):
            got.append(chunk.text)
    assert len(got) == 2
    with pytest.raises(StreamInterruptedError, match="APITimeoutError"):
        await collect(provider, req("one two three"), Timeouts(connect=1, total=10, stream_idle=0.15))


async def test_cancelling_a_call_closes_the_upstream_request(provider: Provider, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Hang(30)])
    task = asyncio.create_task(provider.complete(req(), timeouts=T))
    while llm_server.count("m") == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await llm_server.wait_for_disconnect("m", timeout=3)


async def test_the_api_key_never_appears_in_errors(provider: Provider, llm_server: LLMTestServer) -> None:
    key, status, error = KINDS[provider.kind]
    llm_server.script("m", [Status(status, message=f"invalid API key: {key}")])
    with pytest.raises(error) as info:
        await provider.complete(req(), timeouts=T)
    text = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))
    assert key not in text and "SECRET" not in text
