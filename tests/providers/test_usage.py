"""Usage as each wire format reports it, an estimate when it reports none, and the cost it leads to.

A priced model's answer must never cost $0 because the provider left the usage out (a server that
ignores ``stream_options.include_usage``, a gateway that strips it): the provider estimates it and
marks it ``estimated``. Anthropic's cache writes are their own field, billed at the write rate.
"""

from __future__ import annotations

import logging

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.testing import Answer, LLMTestServer
from tierflow.types import ChatRequest, Usage

T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)
KINDS = ("openai", "azure", "anthropic", "gemini")
PROMPT = "please summarise the quarterly report in three short sentences for the board"


async def _usage(kind: str, llm_server: LLMTestServer, stream: bool) -> tuple[str, Usage]:
    provider = create_provider("p", ProviderSettings(kind=kind, base_url=llm_server.base_url, api_key="k"))
    request = ChatRequest(model="m", messages=[{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": PROMPT}])
    try:
        if not stream:
            response = await provider.complete(request, timeouts=T)
            return response.text, response.usage
        chunks = [c async for c in provider.stream(request, timeouts=T)]
    finally:
        await provider.aclose()
    usages = [c.usage for c in chunks if c.usage is not None]
    assert len(usages) == 1, usages  # one usage, on the last chunk
    return "".join(c.text for c in chunks), usages[0]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", KINDS)
async def test_an_answer_without_usage_gets_an_estimate(kind: str, stream: bool, llm_server: LLMTestServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    answer = "The quarter closed ahead of plan on revenue and margin."
    llm_server.script("m", [Answer(answer, usage=False)])
    with caplog.at_level(logging.WARNING, logger="tierflow.providers"):
        text, usage = await _usage(kind, llm_server, stream)
    assert text == answer and usage.estimated
    # about 4 characters per token: the prompt (two messages) and the answer
    assert usage.input_tokens == -(-len("be brief") // 4) + -(-len(PROMPT) // 4) + 8
    assert usage.output_tokens == -(-len(answer) // 4)
    assert any("usage and cost are estimated" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", KINDS)
async def test_reported_usage_is_used_as_is(kind: str, stream: bool, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Answer("a b c", input_tokens=40, cached_tokens=10)])
    _, usage = await _usage(kind, llm_server, stream)
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens, usage.estimated) == (40, 3, 10, False)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_anthropic_cache_writes_are_their_own_field(stream: bool, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Answer("ok", input_tokens=5000, cached_tokens=1000, cache_write_tokens=3000,
                            cache_write_1h_tokens=1200)])
    _, usage = await _usage("anthropic", llm_server, stream)
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == \
        (5000, 1000, 3000, 1200)


CONFIG = """
providers:
  anthropic: {{kind: anthropic, base_url: "{base}", api_key: k}}
  gw: {{kind: {kind}, base_url: "{base}", api_key: k}}
models:
  - {{role: sonnet, ref: anthropic, model: claude-3-5-sonnet-latest}}
  - {{role: priced, ref: gw, model: m}}
prices: {{"gw/*": {{input_per_mtok: 1, output_per_mtok: 2}}}}
"""


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_a_million_cache_write_tokens_on_claude_3_5_sonnet_cost_3_75(stream: bool, llm_server: LLMTestServer) -> None:
    llm_server.script("claude-3-5-sonnet-latest", [Answer("ok", input_tokens=1_000_000, cache_write_tokens=1_000_000,
                                                   output_tokens=0)])
    async with Client(parse_config(CONFIG.format(base=llm_server.base_url, kind="openai"))) as client:
        if stream:
            async with client.astream("sonnet", "hi") as chunks:
                _ = [c async for c in chunks]
            result = chunks.result
        else:
            result = await client.acall("sonnet", "hi")
    assert result is not None and result.usage.cache_write_tokens == 1_000_000
    assert result.cost_usd == pytest.approx(3.75)  # genai-prices' cache-write rate, not the $3.00 input rate


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_priced_model_without_usage_never_costs_zero(kind: str, stream: bool, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Answer("fine answer", usage=False)])
    async with Client(parse_config(CONFIG.format(base=llm_server.base_url, kind=kind))) as client:
        if stream:
            async with client.astream("priced", PROMPT) as chunks:
                _ = [c async for c in chunks]
            result = chunks.result
        else:
            result = await client.acall("priced", PROMPT)
    assert result is not None and result.usage.estimated
    expected = (result.usage.input_tokens * 1 + result.usage.output_tokens * 2) / 1e6
    assert result.cost_usd is not None and result.cost_usd == pytest.approx(expected) and result.cost_usd > 0


async def test_openai_streams_ask_for_usage(llm_server: LLMTestServer) -> None:
    await _usage("openai", llm_server, stream=True)
    assert llm_server.received[-1].body["stream_options"] == {"include_usage": True}
