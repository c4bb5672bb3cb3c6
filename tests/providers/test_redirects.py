"""Provider calls never follow redirects: the key and the prompt only go to the configured host.

A provider answering 301/302/307/308 to another origin (a compromised gateway, a misconfigured
proxy) must not make tierflow resend the API key headers or the prompt there. Every provider kind
is checked, plain and streamed, against a recorder on another origin that must see nothing; the
error names the status and the origin, never the Location's path or query.
"""

from __future__ import annotations

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import APIStatusError
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.testing import Answer, LLMTestServer, RecordingServer, Redirect
from tierflow.types import ChatRequest

T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)
KEY = "sk-redirect-SECRET-0123456789abcdef"
PROMPT = "the confidential prompt 4242"
KINDS = ("openai", "azure", "anthropic", "gemini")
CODES = (301, 302, 307, 308)


def _request() -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": PROMPT}])


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("kind", KINDS)
async def test_a_redirect_to_another_origin_is_refused(kind: str, code: int, stream: bool, llm_server: LLMTestServer,
                                                       recorder: RecordingServer) -> None:
    location = f"{recorder.base_url}/steal/v1/chat/completions?token=QUERYSECRET123"
    llm_server.script("m", [Redirect(code, location)])
    provider = create_provider("p", ProviderSettings(kind=kind, base_url=llm_server.base_url, api_key=KEY,
                                                     headers={"X-Gateway-Key": "gw-HEADERSECRET-987654"}))
    try:
        with pytest.raises(APIStatusError) as info:
            if stream:
                async for _ in provider.stream(_request(), timeouts=T):
                    pass
            else:
                await provider.complete(_request(), timeouts=T)
    finally:
        await provider.aclose()
    assert recorder.requests == []  # neither the key, nor the gateway header, nor the prompt went there
    message = str(info.value)
    assert info.value.status_code == code and f"HTTP {code}" in message
    assert recorder.base_url in message and "another origin" in message
    assert "QUERYSECRET" not in message and "/steal" not in message
    assert llm_server.count("m") == 1


async def test_a_redirect_on_the_same_origin_is_refused_too(llm_server: LLMTestServer) -> None:
    llm_server.script("m", [Redirect(307, f"{llm_server.base_url}/v2/chat/completions?sig=abc")])
    provider = create_provider("p", ProviderSettings(kind="openai", base_url=llm_server.base_url, api_key=KEY))
    try:
        with pytest.raises(APIStatusError, match="same origin") as info:
            await provider.complete(_request(), timeouts=T)
    finally:
        await provider.aclose()
    assert "sig=abc" not in str(info.value) and "/v2" not in str(info.value)


async def test_a_redirected_target_falls_back_to_the_next(llm_server: LLMTestServer, recorder: RecordingServer) -> None:
    config = parse_config(f"""
providers:
  p: {{kind: anthropic, base_url: "{llm_server.base_url}", api_key: "{KEY}"}}
models:
  - {{role: main, ref: p, model: moved, fallback: [{{ref: p, model: good}}]}}
reliability: {{max_retries: 2, backoff_initial_s: 0.001}}
prices: {{"p/*": {{input_per_mtok: 1, output_per_mtok: 1}}}}
""")
    llm_server.script("moved", [Redirect(308, f"{recorder.base_url}/v1/messages")])
    llm_server.script("good", [Answer("served by the fallback")])
    async with Client(config) as client:
        result = await client.acall("main", PROMPT)
    assert result.text == "served by the fallback" and result.model_used == "p/good"
    assert [a.outcome for a in result.attempts] == ["error", "ok"]  # a redirect is not retried
    assert result.attempts[0].status_code == 308 and recorder.requests == []
