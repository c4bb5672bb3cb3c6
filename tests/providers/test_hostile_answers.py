"""Malformed answers and unsendable prompts become provider errors, never raw exceptions.

Each class with several variants, on every wire format: JSON nested deeper than the parser can
follow (plain body, stream event, error body), token counts that are not counts (strings, negative,
fractional, booleans, lists), answers of the wrong shape, and prompts holding a lone surrogate.
Through the call layer each one falls back to the next target.
"""

from __future__ import annotations

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import BadRequestError, ProviderError, ResponseFormatError, ServerError, StreamInterruptedError
from tierflow.providers.base import Provider, ProviderSettings, Timeouts, create_provider
from tierflow.testing import Answer, Garbage, LLMTestServer
from tierflow.types import ChatRequest

T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)
KINDS = ("openai", "azure", "anthropic", "gemini")
DEEP = "[" * 200_000 + "]" * 200_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000

# the usage field names of each wire format: (input, output)
USAGE_FIELDS = {"openai": ("prompt_tokens", "completion_tokens"), "azure": ("prompt_tokens", "completion_tokens"),
                "anthropic": ("input_tokens", "output_tokens"), "gemini": ("promptTokenCount", "candidatesTokenCount")}
BAD_COUNTS = ["12", -5, 1.5, True, [3], {"n": 1}]


def _provider(kind: str, llm_server: LLMTestServer) -> Provider:
    return create_provider("p", ProviderSettings(kind=kind, base_url=llm_server.base_url, api_key="k-0123456789abcdef"))


def _request(text: str = "hello world") -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": text}])


async def _run(provider: Provider, stream: bool, request: ChatRequest | None = None) -> str:
    request = request or _request()
    try:
        if stream:
            return "".join([c.text async for c in provider.stream(request, timeouts=T)])
        return (await provider.complete(request, timeouts=T)).text
    finally:
        await provider.aclose()


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("kind", KINDS)
async def test_deeply_nested_json_is_a_response_format_error(kind: str, body: str, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Garbage(body)])
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        await _run(_provider(kind, llm_server), stream=False)


@pytest.mark.parametrize("kind", KINDS)
async def test_deeply_nested_stream_event_and_error_body(kind: str, llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Garbage(f"data: {DEEP}\n\n", content_type="text/event-stream"),
                     Garbage(DEEP_OBJECT, status=503)])
    with pytest.raises(ResponseFormatError, match="nested too deeply"):
        await _run(_provider(kind, llm_server), stream=True)
    with pytest.raises(ServerError, match="HTTP 503"):  # the error body is not readable, the status is
        await _run(_provider(kind, llm_server), stream=False)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("bad", BAD_COUNTS, ids=lambda v: type(v).__name__ + str(v)[:3])
@pytest.mark.parametrize("kind", KINDS)
async def test_token_counts_that_are_not_counts_are_refused(kind: str, bad: object, stream: bool,
                                                            llm_server: LLMTestServer) -> None:
    inp, out = USAGE_FIELDS[kind]
    llm_server.script("m", [Answer("fine", usage_override={inp: bad, out: 3})])
    # streamed, the usage may come after the text: then the stream is interrupted (never replayed)
    expected = ProviderError if stream else ResponseFormatError
    with pytest.raises(expected, match="ResponseFormatError|not a token count") as info:
        await _run(_provider(kind, llm_server), stream)
    assert "not a token count" in str(info.value)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
async def test_parts_larger_than_their_whole_are_refused(kind: str, llm_server: LLMTestServer) -> None:
    usage = {"openai": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 50}},
             "anthropic": {"input_tokens": 5, "output_tokens": 1, "cache_creation": {"ephemeral_1h_input_tokens": 9}},
             "gemini": {"promptTokenCount": 5, "candidatesTokenCount": 1, "cachedContentTokenCount": 50}}[kind]
    llm_server.script("m", [Answer("fine", usage_override=usage)])
    with pytest.raises(ResponseFormatError, match="above"):
        await _run(_provider(kind, llm_server), stream=False)


WRONG_SHAPES = {
    "openai": ['{"choices": [{"message": "just a string"}]}', '{"choices": [{"message": {"content": "x"}}], "usage": 7}',
               '{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens_details": "many"}}'],
    "anthropic": ['{"content": [{"type": "text", "text": "x"}], "usage": "lots"}',
                  '{"content": [{"type": "text", "text": "x"}], "usage": {"input_tokens": 1, "cache_creation": 5}}',
                  '{"content": [{"type": "text", "text": ["x"]}]}'],
    "gemini": ['{"candidates": [{"content": "x"}]}', '{"candidates": [{"content": {"parts": [{"text": 5}]}}]}',
               '{"candidates": [], "promptFeedback": "blocked"}'],
}


@pytest.mark.parametrize(("kind", "body"), [(k, b) for k, bodies in WRONG_SHAPES.items() for b in bodies])
async def test_answers_of_the_wrong_shape_are_response_format_errors(kind: str, body: str,
                                                                     llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Garbage(body)])
    with pytest.raises(ResponseFormatError):
        await _run(_provider(kind, llm_server), stream=False)


SURROGATES = ["\ud800", "ok \udfff then", "x" * 50 + "\udbff"]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("text", SURROGATES, ids=["alone", "low", "late"])
@pytest.mark.parametrize("kind", KINDS)
async def test_a_lone_surrogate_is_refused_before_sending(kind: str, text: str, stream: bool,
                                                          llm_server: LLMTestServer) -> None:
    with pytest.raises(BadRequestError) as info:
        await _run(_provider(kind, llm_server), stream, _request(text))
    assert "messages[1].content" in str(info.value) and "surrogate" in str(info.value)
    assert llm_server.count() == 0  # refused before anything was sent


async def test_surrogates_in_parts_stop_and_extra_fields_are_located(llm_server: LLMTestServer) -> None:
    cases = [(ChatRequest(model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "a\ud801"}]}]),
              "messages[0].content[0].text"),
             (ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], stop=["\udc00"]), "stop[0]"),
             (ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}], extra={"user": "\ud83d"}), "user")]
    for request, where in cases:
        with pytest.raises(BadRequestError, match=where.replace("[", r"\[").replace("]", r"\]")):
            await _run(_provider("openai", llm_server), False, request)
    assert llm_server.count() == 0


HOSTILE = {"deep": Garbage(DEEP), "deep-event": Garbage(f"data: {DEEP}\n\n", content_type="text/event-stream"),
           "string-count": Answer("x", usage_override={"prompt_tokens": "12", "completion_tokens": 1}),
           "negative": Answer("x", usage_override={"prompt_tokens": -40, "completion_tokens": 1}),
           "shape": Garbage('{"choices": [{"message": "just a string"}]}')}
CONFIG = """
providers:
  p: {{kind: openai, base_url: "{base}", api_key: test}}
models:
  - {{role: main, ref: p, model: bad, fallback: [{{ref: p, model: good}}]}}
reliability: {{max_retries: 0}}
prices: {{"p/*": {{input_per_mtok: 1, output_per_mtok: 1}}}}
"""


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("name", list(HOSTILE))
async def test_every_malformed_answer_falls_back_or_interrupts(name: str, stream: bool, llm_server: LLMTestServer) -> None:
    llm_server.set_default("bad", HOSTILE[name])
    llm_server.script("good", [Answer("from the fallback")])
    async with Client(parse_config(CONFIG.format(base=llm_server.base_url))) as client:
        if stream and name in ("string-count", "negative"):
            # the bad usage arrives after the text was delivered: interrupted, never replayed elsewhere
            with pytest.raises(StreamInterruptedError, match="ResponseFormatError"):
                async with client.astream("main", "hello") as chunks:
                    _ = [c async for c in chunks]
            assert llm_server.count("good") == 0
            return
        if stream:
            async with client.astream("main", "hello") as chunks:
                text = "".join([c.text async for c in chunks])
            result = chunks.result
        else:
            result = await client.acall("main", "hello")
            text = result.text
    assert text == "from the fallback" and result is not None
    assert [a.outcome for a in result.attempts] == ["error", "ok"]
    assert result.attempts[0].error == "ResponseFormatError"
    assert result.cost_usd is not None and result.cost_usd > 0
