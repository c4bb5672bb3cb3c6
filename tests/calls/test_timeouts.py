"""Who enforces an attempt's time limit: the HTTP provider itself, or the call layer's own timer.

HTTP providers (``enforces_timeouts = True``) get the total and the deadline through aiohttp;
other providers (the local one) are bounded by a timer of the call layer. Both must behave alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import AllTargetsFailedError, APITimeoutError, DeadlineExceededError
from tierflow.providers.base import Provider, Timeouts
from tierflow.providers.openai_compat import OpenAIProvider
from tierflow.testing import Answer, Hang, LLMTestServer, Status
from tierflow.types import ChatRequest, ChatResponse, StreamChunk


class _Sleeper(Provider):
    """An in-process provider that answers after ``delay_s`` and does not watch the clock itself."""

    kind = "openai"

    def __init__(self, name: str, settings: object, delay_s: float) -> None:
        super().__init__(name, settings)  # type: ignore[arg-type]
        self.delay_s = delay_s
        self.cancelled = 0
        self.received: list[tuple[ChatRequest, Timeouts]] = []

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        self.received.append((request, timeouts))
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return ChatResponse(text="late")

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        raise NotImplementedError


def _config(total: float) -> str:
    return f"""
providers:
  slow: {{kind: openai, base_url: "http://127.0.0.1:9/v1", timeouts: {{connect: 1, total: {total}}}}}
models:
  - {{role: primary, ref: slow, model: m}}
reliability: {{max_retries: 1, backoff_initial_s: 0.001, backoff_max_s: 0.002}}
"""


@pytest.fixture
def sleeper_client() -> Callable[[float, float], tuple[Client, _Sleeper]]:
    def make(total: float, delay_s: float) -> tuple[Client, _Sleeper]:
        config = parse_config(_config(total), source="test.yaml")
        provider = _Sleeper("slow", config.provider_settings("slow"), delay_s)
        return Client(config, providers={"slow": provider}), provider

    return make


def test_http_providers_enforce_their_own_timeouts() -> None:
    assert OpenAIProvider.enforces_timeouts and not _Sleeper.enforces_timeouts


async def test_call_layer_times_out_a_provider_that_does_not(
        sleeper_client: Callable[[float, float], tuple[Client, _Sleeper]]) -> None:
    client, provider = sleeper_client(0.1, 10)
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("primary", "x")
    assert [(a.outcome, a.error) for a in info.value.attempts] == [("error", "APITimeoutError")] * 2
    assert provider.cancelled == 2  # the timer cancelled the provider's work, it did not leave it running
    assert "last error: slow/m: no answer within 0.1s" in str(info.value)
    request, timeouts = provider.received[0]
    assert (request.model, request.messages, timeouts) == ("m", [{"role": "user", "content": "x"}],
                                                           Timeouts(1.0, 0.1, 60.0))


async def test_deadline_with_a_provider_that_does_not_enforce(
        sleeper_client: Callable[[float, float], tuple[Client, _Sleeper]]) -> None:
    client, provider = sleeper_client(5, 10)
    with pytest.raises(DeadlineExceededError) as info:
        await client.acall("primary", "x", deadline_s=0.1)
    assert [a.error for a in info.value.attempts] == ["DeadlineExceededError"]
    assert provider.cancelled == 1
    assert isinstance(info.value.__cause__, APITimeoutError)


async def test_deadline_with_an_http_provider(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    # the hang outlasts the per-attempt total: only a deadline that shrinks the total ends the
    # attempt as DeadlineExceededError (otherwise it would end, much later, as APITimeoutError)
    client = make_client(total=30)
    llm_server.set_default("a", Hang(30))
    with pytest.raises(DeadlineExceededError) as info:
        await client.acall("primary", "x", deadline_s=0.2)
    assert [(a.target, a.error) for a in info.value.attempts] == [("srv/a", "DeadlineExceededError")]
    assert llm_server.count("b") == 0  # a deadline is not a reason to fall back
    assert isinstance(info.value.__cause__, APITimeoutError)


async def test_a_deadline_does_not_end_a_call_on_other_failures(make_client: Callable[..., Client],
                                                                llm_server: LLMTestServer) -> None:
    client = make_client()
    llm_server.script("a", [Status(500), Answer("ok")])
    result = await client.acall("primary", "x", deadline_s=30)
    assert result.text == "ok" and [a.outcome for a in result.attempts] == ["error", "ok"]
    streamed = await client.astream("primary", "one two", deadline_s=30).collect()  # a far deadline
    assert streamed.text == "echo: one two"



async def test_a_provider_that_does_not_enforce_answers_within_its_total(
        sleeper_client: Callable[[float, float], tuple[Client, _Sleeper]]) -> None:
    client, provider = sleeper_client(5, 0.01)
    result = await client.acall("primary", "x")
    assert result.text == "late" and provider.cancelled == 0
