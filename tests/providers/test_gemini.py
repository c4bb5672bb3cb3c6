"""The Gemini adapter against the test server speaking Gemini's wire format."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tierflow.config import parse_config
from tierflow.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from tierflow.providers._http_errors import status_error
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.providers.gemini import GeminiProvider, to_gemini_schema
from tierflow.testing import Answer, LLMTestServer, Status
from tierflow.types import ChatRequest, StreamChunk

KEY = "AIzaSyD-SECRET-abcdefghijklmnopqrstuv"
T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)


@pytest.fixture
async def provider(llm_server: LLMTestServer) -> AsyncIterator[GeminiProvider]:
    p = create_provider("gem", ProviderSettings(kind="gemini", base_url=llm_server.base_url, api_key=KEY))
    assert isinstance(p, GeminiProvider)
    yield p
    await p.aclose()


def req(text: str = "hello world", model: str = "gemini-x", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "system", "content": "be brief"},
                                              {"role": "assistant", "content": "earlier"},
                                              {"role": "user", "content": text}], **kw)  # type: ignore[arg-type]


async def collect(p: GeminiProvider, request: ChatRequest, timeouts: Timeouts = T) -> list[StreamChunk]:
    return [c async for c in p.stream(request, timeouts=timeouts)]


async def test_wire_shape_and_headers(provider: GeminiProvider, llm_server: LLMTestServer) -> None:
    r = await provider.complete(req("hi there", temperature=0.1, max_tokens=50, stop=["X"], seed=3), timeouts=T)
    assert r.text == "echo: hi there" and r.finish_reason == "stop" and r.model == "gemini-x"
    got = llm_server.received[-1]
    assert got.path == "/v1beta/models/gemini-x:generateContent"
    assert got.body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert [c["role"] for c in got.body["contents"]] == ["model", "user"]
    assert got.body["generationConfig"] == {"temperature": 0.1, "maxOutputTokens": 50, "stopSequences": ["X"],
                                            "seed": 3}
    assert got.headers["x-goog-api-key"] == KEY and KEY not in str(llm_server.base_url + got.path)


async def test_usage_with_cached_and_thought_tokens(provider: GeminiProvider, llm_server: LLMTestServer) -> None:
    llm_server.script("gemini-x", [Answer("a b", input_tokens=40, cached_tokens=30, reasoning_tokens=7)] * 2)
    r = await provider.complete(req(), timeouts=T)
    assert (r.usage.input_tokens, r.usage.cached_tokens) == (40, 30)
    assert (r.usage.output_tokens, r.usage.reasoning_tokens) == (2 + 7, 7)
    chunks = await collect(provider, req())
    assert chunks[-1].usage == r.usage and chunks[-1].finish_reason == "stop"


async def test_stream_joins_to_the_answer(provider: GeminiProvider, llm_server: LLMTestServer) -> None:
    full = await provider.complete(req("stream this"), timeouts=T)
    chunks = await collect(provider, req("stream this"))
    assert "".join(c.text for c in chunks) == full.text and len(chunks) >= 3
    assert llm_server.received[-1].path == "/v1beta/models/gemini-x:streamGenerateContent"


async def test_json_schema_and_logprobs(provider: GeminiProvider, llm_server: LLMTestServer) -> None:
    schema = {"type": "object", "additionalProperties": False, "title": "T",
              "properties": {"name": {"type": ["string", "null"]},
                             "tags": {"type": "array", "items": {"type": "string"}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    r = await provider.complete(req(response_format=fmt), timeouts=T)
    assert json.loads(r.text) == {"name": "text", "tags": []}
    cfg = llm_server.received[-1].body["generationConfig"]
    assert cfg["responseMimeType"] == "application/json"
    assert cfg["responseSchema"] == {"type": "OBJECT", "properties": {
        "name": {"type": "STRING", "nullable": True}, "tags": {"type": "ARRAY", "items": {"type": "STRING"}}}}
    r = await provider.complete(req("p q", logprobs=True, top_logprobs=2), timeouts=T)
    assert llm_server.received[-1].body["generationConfig"]["responseLogprobs"] is True
    assert r.logprobs and "".join(t.token for t in r.logprobs) == r.text and len(r.logprobs[0].top) == 2


def test_schema_translation_drops_unsupported_keywords() -> None:
    out = to_gemini_schema({"$schema": "x", "type": "object", "properties": {"a": {"type": "integer", "default": 1}}})
    assert out == {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}


@pytest.mark.parametrize(("code", "cls"), [(400, BadRequestError), (401, AuthenticationError),
                                           (404, NotFoundError), (429, RateLimitError), (503, ServerError)])
async def test_status_mapping(provider: GeminiProvider, llm_server: LLMTestServer, code: int,
                              cls: type[ProviderError]) -> None:
    llm_server.script("gemini-x", [Status(code, message="quota or whatever")])
    with pytest.raises(cls) as info:
        await provider.complete(req(), timeouts=T)
    assert info.value.status_code == code and "quota or whatever" in str(info.value)


async def test_retry_delay_in_the_error_body(provider: GeminiProvider, llm_server: LLMTestServer) -> None:
    """Gemini states the delay in ``error.details[].retryDelay``, used when no header says it."""
    llm_server.script("gemini-x", [Status(429, retry_after=4)])
    with pytest.raises(RateLimitError) as info:
        await provider.complete(req(), timeouts=T)
    assert info.value.retry_after_s == 4.0
    body = {"error": {"code": 429, "message": "quota", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"}]}}
    err = status_error(429, json.dumps(body).encode(), {}, "gem/m")
    assert isinstance(err, RateLimitError) and err.retry_after_s == 12.5 and "quota" in str(err)


async def test_models_prefix_and_api_version(llm_server: LLMTestServer) -> None:
    p = GeminiProvider("gem", ProviderSettings(kind="gemini", base_url=llm_server.base_url, api_version="v1"))
    try:
        assert (await p.complete(req(model="models/gemini-y"), timeouts=T)).text
    finally:
        await p.aclose()
    assert llm_server.received[-1].path == "/v1/models/gemini-y:generateContent" and llm_server.count("gemini-y") == 1


# --- Vertex AI ----------------------------------------------------------------------------------

TOKEN = "ya29.a0-VERTEX-access-token-0123456789"


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_vertex_ai_uses_the_project_endpoint_and_a_bearer_token(stream: bool, llm_server: LLMTestServer) -> None:
    settings = ProviderSettings(kind="gemini", base_url=llm_server.base_url, api_key=TOKEN,
                                options={"project_id": "my-proj", "location": "europe-west4"})
    p = create_provider("vertex", settings)
    assert isinstance(p, GeminiProvider)
    try:
        if stream:
            text = "".join([c.text for c in await collect(p, req("hi there"))])
        else:
            text = (await p.complete(req("hi there"), timeouts=T)).text
    finally:
        await p.aclose()
    assert text == "echo: hi there"
    received = llm_server.received[-1]
    action = "streamGenerateContent" if stream else "generateContent"
    assert received.path == f"/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-x:{action}"
    assert received.headers["Authorization"] == f"Bearer {TOKEN}" and "x-goog-api-key" not in received.headers
    assert TOKEN not in repr(p._headers)


def test_vertex_ai_default_endpoints() -> None:
    def root(options: dict[str, object]) -> str:
        p = create_provider("v", ProviderSettings(kind="gemini", api_key=TOKEN, options=options))
        assert isinstance(p, GeminiProvider)
        return p._url_for("gemini-2.0-flash-001", False)

    assert root({"project_id": "p1"}) == ("https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/"
                                          "us-central1/publishers/google/models/gemini-2.0-flash-001:generateContent")
    assert root({"project_id": "p1", "location": "global"}).startswith(
        "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/google/models/")
    assert root({}).startswith("https://generativelanguage.googleapis.com/v1beta/models/")


@pytest.mark.parametrize(("options", "api_key", "where", "expected"), [
    ({"project_id": "p1"}, None, "providers.v.api_key", "OAuth access token"),
    ({"location": "us-east1"}, TOKEN, "providers.v.options.location", "project_id only"),
    ({"project_id": "p1", "location": "us central/1"}, TOKEN, "providers.v.options.location", "Vertex AI location"),
    ({"project_id": ""}, TOKEN, "providers.v.options.project_id", "project id"),
    ({"project": "p1"}, TOKEN, "providers.v.options.project", "unknown option")])
def test_vertex_options_are_checked(options: dict[str, object], api_key: str | None, where: str,
                                    expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_provider("v", ProviderSettings(kind="gemini", api_key=api_key, options=options))
    assert any(p.where == where and expected in p.message for p in info.value.problems), info.value.problems


def test_the_resources_form_project_id_reaches_vertex() -> None:
    cfg = parse_config("llm:gemini:\n  _class: GeminiConfig\n  project_id: ${GCP_PROJECT}\n  location: asia-east1\n"
                       "  api_key: ${TOKEN}\n  model: gemini-2.0-flash-001\n", env={"GCP_PROJECT": "proj-9", "TOKEN": TOKEN})
    p = create_provider("gemini", cfg.providers["gemini"])
    assert isinstance(p, GeminiProvider)
    assert p._url_for("gemini-2.0-flash-001", True).startswith(
        "https://asia-east1-aiplatform.googleapis.com/v1/projects/proj-9/locations/asia-east1/")


async def test_portable_sampling_fields_go_into_the_generation_config(provider: GeminiProvider,
                                                                      llm_server: LLMTestServer) -> None:
    await provider.complete(req(extra={"top_p": 0.5, "frequency_penalty": 0.25, "presence_penalty": -1}), timeouts=T)
    body = llm_server.received[-1].body
    assert body["generationConfig"] == {"topP": 0.5, "frequencyPenalty": 0.25, "presencePenalty": -1}
    assert not {"top_p", "frequency_penalty", "presence_penalty"} & set(body)


async def test_image_parts_become_inline_or_file_data(provider: GeminiProvider, llm_server: LLMTestServer) -> None:
    parts = [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    await provider.complete(ChatRequest(model="gemini-x", messages=[{"role": "user", "content": parts}]), timeouts=T)
    assert llm_server.received[-1].body["contents"][0]["parts"] == [
        {"text": "see"}, {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}}]
