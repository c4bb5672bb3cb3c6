"""The gateway through the official OpenAI SDK and plain HTTP, in front of the loopback test server."""

from __future__ import annotations

import json
import re

import aiohttp
import openai
import pytest

from tierflow.errors import ConfigError
from tierflow.gateway import GatewaySettings, Mount
from tierflow.testing import Answer, LLMTestServer, Status

from .conftest import UPSTREAM_KEY

MSG = [{"role": "user", "content": "hello there"}]


async def test_plain_completion_names_the_concrete_model_with_usage_cost_and_headers(
        gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    raw = await sdk.chat.completions.with_raw_response.create(model="strong", messages=MSG)
    completion = raw.parse()
    assert completion.model == "t/strong-model"
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == 3
    headers = raw.headers
    assert headers["x-tierflow-role"] == "strong"
    assert headers["x-tierflow-model"] == "t/strong-model"
    assert headers["x-tierflow-attempts"] == "1"
    assert float(headers["x-tierflow-cost-usd"]) == pytest.approx((2 * 10 + 3 * 30) / 1e6)
    assert completion.id == f"chatcmpl-{headers['x-request-id']}"
    report = completion.model_extra["tierflow"]
    assert report["model"] == "t/strong-model" and report["request_id"] == headers["x-request-id"]
    assert upstream.requests[-1]["model"] == "strong-model"


async def test_after_a_fallback_the_response_names_the_model_that_served(
        gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    upstream.script("strong-model", [Status(500)])
    raw = await sdk.chat.completions.with_raw_response.create(model="strong", messages=MSG)
    assert raw.parse().model == "t/backup-model"
    assert raw.headers["x-tierflow-model"] == "t/backup-model"
    assert raw.headers["x-tierflow-attempts"] == "2"
    attempts = raw.parse().model_extra["tierflow"]["attempts"]
    assert [(a["target"], a["outcome"], a["status_code"]) for a in attempts] == [
        ("t/strong-model", "error", 500), ("t/backup-model", "ok", None)]


async def test_the_client_cannot_change_the_upstream_key_url_or_headers(
        gateway, sdk_factory, upstream: LLMTestServer) -> None:
    client = sdk_factory(gateway, api_key="sk-client-key-should-not-travel")
    await client.chat.completions.create(model="fast", messages=MSG, extra_headers={"x-upstream": "evil"})
    sent = upstream.received[-1]
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "x-upstream" not in {k.lower() for k in sent.headers}
    for field in ("base_url", "api_key", "extra_headers", "api_base"):
        with pytest.raises(openai.BadRequestError) as err:
            await client.chat.completions.create(model="fast", messages=MSG, extra_body={field: "http://evil"})
        assert err.value.body["param"] == field
    assert upstream.count() == 1


async def test_the_sdk_retries_our_429_and_gets_the_answer(gateway, sdk_factory, upstream: LLMTestServer) -> None:
    upstream.script("fast-model", [Status(429, retry_after_ms=20), Status(429, retry_after_ms=20)])
    client = sdk_factory(gateway, max_retries=2)
    completion = await client.chat.completions.create(model="fast", messages=MSG)
    assert completion.choices[0].message.content == "echo: hello there"
    assert upstream.count("fast-model") == 3


async def test_a_rate_limited_chain_is_a_429_with_retry_after(gateway, upstream: LLMTestServer) -> None:
    upstream.script("fast-model", [Status(429, retry_after=7)])
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.base_url + "/v1/chat/completions",
                             json={"model": "fast", "messages": MSG}) as resp:
            body = await resp.json()
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "7" and resp.headers["retry-after-ms"] == "7000"
    assert body["error"]["type"] == "rate_limit_error" and body["error"]["code"] == "rate_limit_exceeded"
    assert "t/fast-model" in body["error"]["message"]


async def test_a_chain_cooling_down_is_a_503_with_retry_after_and_no_upstream_request(
        gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    upstream.script("fast-model", [Status(500)] * 3)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as err:
            await sdk.chat.completions.create(model="fast", messages=MSG)
        assert err.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as err:
        await sdk.chat.completions.create(model="fast", messages=MSG)
    assert err.value.status_code == 503
    assert err.value.body["code"] == "service_unavailable"
    assert 25 <= int(err.value.response.headers["Retry-After"]) <= 30
    assert upstream.count("fast-model") == 3


async def test_upstream_errors_never_leak_the_key_or_a_traceback(gateway, upstream: LLMTestServer) -> None:
    upstream.script("fast-model", [Status(401, message=f"invalid key {UPSTREAM_KEY}")])
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.base_url + "/v1/chat/completions",
                             json={"model": "fast", "messages": MSG}) as resp:
            text = await resp.text()
            assert resp.status == 502
    assert UPSTREAM_KEY not in text and UPSTREAM_KEY[:12] not in text
    assert "Traceback" not in text
    assert json.loads(text)["error"]["code"] == "upstream_error"


async def test_unknown_model_is_a_404_listing_the_valid_ones(gateway, sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        await sdk.chat.completions.create(model="gpt-4o", messages=MSG)
    assert err.value.body["code"] == "model_not_found" and err.value.body["param"] == "model"
    assert "['fast', 'strong']" in err.value.body["message"]


async def test_provider_model_names_need_passthrough(gateway_factory, sdk_factory, upstream: LLMTestServer) -> None:
    closed = sdk_factory(await gateway_factory())
    with pytest.raises(openai.NotFoundError) as err:
        await closed.chat.completions.create(model="t/any-model", messages=MSG)
    assert "gateway.passthrough" in err.value.body["message"]
    assert upstream.count() == 0
    opened = sdk_factory(await gateway_factory(GatewaySettings(passthrough=["t"])))
    raw = await opened.chat.completions.with_raw_response.create(model="t/any-model", messages=MSG)
    assert raw.parse().model == "t/any-model"
    assert "x-tierflow-role" not in raw.headers
    with pytest.raises(openai.NotFoundError):
        await opened.chat.completions.create(model="openai/gpt-4o", messages=MSG)


async def test_response_format_reaches_the_upstream(gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    upstream.script("fast-model", [Answer('{"a": 1}')])
    completion = await sdk.chat.completions.create(
        model="fast", messages=MSG, temperature=0.3, max_tokens=20, stop=["END"], seed=7,
        response_format={"type": "json_schema", "json_schema": {"name": "thing", "schema": schema}})
    assert json.loads(completion.choices[0].message.content or "") == {"a": 1}
    sent = upstream.requests[-1]
    assert sent["response_format"]["json_schema"]["schema"] == schema
    assert (sent["temperature"], sent["max_tokens"], sent["stop"], sent["seed"]) == (0.3, 20, ["END"], 7)


async def test_client_request_id_is_kept_beside_ours(gateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.base_url + "/v1/chat/completions", headers={"x-request-id": "my-id-1"},
                             json={"model": "fast", "messages": MSG}) as resp:
            assert resp.status == 200
            assert resp.headers["x-client-request-id"] == "my-id-1"
            assert resp.headers["x-request-id"] != "my-id-1" and len(resp.headers["x-request-id"]) == 32


async def test_models_listing_health_and_ready(gateway, sdk: openai.AsyncOpenAI) -> None:
    models = {m.id: m.model_extra for m in (await sdk.models.list()).data}
    assert set(models) == {"strong", "fast"}  # no implicit 'primary' alias: the first entry is named 'strong'
    assert models["strong"]["kind"] == "role"
    assert models["strong"]["targets"] == ["t/strong-model", "t/backup-model"]
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("primary")
    assert (await sdk.models.retrieve("fast")).id == "fast"
    with pytest.raises(openai.NotFoundError):
        await sdk.models.retrieve("nope")
    async with aiohttp.ClientSession() as http:
        for path in ("/health", "/ready"):
            async with http.get(gateway.base_url + path) as resp:
                assert resp.status == 200
        async with http.get(gateway.base_url + "/v2/nothing") as resp:
            body = await resp.json()
            assert resp.status == 404 and body["error"]["code"] == "not_found"
            assert resp.headers["x-request-id"]


@pytest.mark.parametrize("prefix", ["", "/", "ui", "/ui/", "/v1", "/v1/ui", "/admin", "/health", "/ready/x"])
def test_a_mount_prefix_that_could_cover_the_gateways_own_paths_is_refused_naming_it(prefix: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"Mount prefix {prefix!r}")):
        Mount(prefix, lambda app: None)


def test_a_mount_owns_its_prefix_and_what_is_below_it_only() -> None:
    mount = Mount("/ui", lambda app: None)
    assert [mount.owns(p) for p in ("/ui", "/ui/api/routers", "/uix", "/v1/chat/completions", "/")] == \
        [True, True, False, False, False]
    assert Mount("/v", lambda app: None).owns("/v1/models") is False  # a neighbour of /v1 is no overlap
