"""The loopback test server itself, exercised with a plain HTTP client."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tierflow.testing import (
    Answer,
    CutStream,
    Garbage,
    Hang,
    LLMTestServer,
    RecordingServer,
    Redirect,
    SlowStream,
    Status,
    behaviour_from_dict,
    behaviour_to_dict,
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def chat(model: str = "m", text: str = "hello", **kw: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **kw}


async def post(http: aiohttp.ClientSession, llm_server: LLMTestServer, body: dict[str, Any],
               path: str = "/v1/chat/completions") -> tuple[int, Any, Any]:
    async with http.post(llm_server.base_url + path, json=body) as r:
        raw = await r.text()
        try:
            return r.status, json.loads(raw), r.headers
        except ValueError:
            return r.status, raw, r.headers


async def test_script_is_consumed_in_order_then_default(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Status(500), Answer("scripted")])
    llm_server.set_default("m", Status(503))
    codes = [(await post(http, llm_server, chat()))[0] for _ in range(2)]
    status, body, _ = await post(http, llm_server, chat())
    assert codes[0] == 500 and status == 503
    assert llm_server.count("m") == 3 and llm_server.count("other") == 0 and llm_server.count() == 3


async def test_scripted_answer_text(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Answer("scripted")])
    _, body, _ = await post(http, llm_server, chat())
    assert body["choices"][0]["message"]["content"] == "scripted"


async def test_wildcard_default_and_reset(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.set_default("*", Status(429))
    assert (await post(http, llm_server, chat("any")))[0] == 429
    llm_server.reset()
    status, body, _ = await post(http, llm_server, chat("any", "ping"))
    assert status == 200 and body["choices"][0]["message"]["content"] == "echo: ping"
    assert llm_server.count() == 1 and llm_server.requests == [chat("any", "ping")]


async def test_status_headers(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Status(429, retry_after=1.5, retry_after_ms=1500, message="slow down")])
    status, body, headers = await post(http, llm_server, chat())
    assert status == 429 and headers["Retry-After"] == "1.5" and headers["retry-after-ms"] == "1500"
    assert body["error"]["message"] == "slow down"


async def test_usage_details_when_scripted(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Answer("x y z", input_tokens=9, cached_tokens=4, reasoning_tokens=2)])
    _, body, _ = await post(http, llm_server, chat())
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14,
                             "prompt_tokens_details": {"cached_tokens": 4},
                             "completion_tokens_details": {"reasoning_tokens": 2}}


async def test_json_mode_answers_valid_json(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    _, body, _ = await post(http, llm_server, chat(response_format={"type": "json_object"}))
    assert json.loads(body["choices"][0]["message"]["content"]) == {"answer": "echo: hello"}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "kind": {"enum": ["a", "b"]}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    _, body, _ = await post(http, llm_server, chat(response_format=fmt))
    assert json.loads(body["choices"][0]["message"]["content"]) == {"ok": True, "kind": "a"}


async def test_stream_usage_only_when_asked(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    _, plain, _ = await post(http, llm_server, chat(stream=True))
    _, with_usage, _ = await post(http, llm_server, chat(stream=True, stream_options={"include_usage": True}))
    assert '"usage"' not in plain and '"usage"' in with_usage
    assert plain.rstrip().endswith("data: [DONE]")


async def test_garbage_and_cut(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Garbage("{{{", status=200), CutStream(after_chunks=1)])
    status, body, _ = await post(http, llm_server, chat())
    assert status == 200 and body == "{{{"
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(http, llm_server, chat(stream=True))


async def test_hang_is_observed_as_a_disconnect(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Hang(30)])
    with pytest.raises(TimeoutError):
        async with http.post(llm_server.base_url + "/v1/chat/completions", json=chat(),
                             timeout=aiohttp.ClientTimeout(total=0.2)) as r:
            await r.read()
    assert await llm_server.wait_for_disconnect("m", timeout=3)


async def test_slow_stream_paces_chunks(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [SlowStream(chunk_delay=0.05, text="a b c")])
    _, body, _ = await post(http, llm_server, chat(stream=True))
    assert body.count('"content":') == 4  # role chunk + three pieces


async def test_bad_requests_get_protocol_errors(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    status, body, _ = await post(http, llm_server, {"model": "m"})
    assert status == 400 and "messages" in body["error"]["message"]
    status, body, _ = await post(http, llm_server, {"model": "c", "messages": [{"role": "user", "content": "x"}]},
                                 "/v1/messages")
    assert status == 400 and body["type"] == "error" and "max_tokens" in body["error"]["message"]
    status, body, _ = await post(http, llm_server, {"contents": []}, "/v1beta/models/g:countTokens")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    assert llm_server.count() == 0


def test_behaviour_dicts_round_trip_and_reject_unknowns() -> None:
    for b in (Answer("x", cached_tokens=2), Status(429, retry_after=1), Hang(2), CutStream(3), Garbage("g"),
              SlowStream(0.1, fast_chunks=1)):
        assert behaviour_from_dict(behaviour_to_dict(b)) == b
    with pytest.raises(ValueError, match="kind"):
        behaviour_from_dict({"kind": "explode"})
    with pytest.raises(ValueError, match="retry_afterr"):
        behaviour_from_dict({"kind": "status", "code": 429, "retry_afterr": 1})


def test_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LLMTestServer(host="0.0.0.0")


def _get(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.loads(r.read())


def test_start_in_thread_for_sync_code() -> None:
    llm_server = LLMTestServer.start_in_thread()
    try:
        llm_server.script("m", [Status(500)])
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(llm_server.base_url + "/v1/chat/completions", chat())
        assert info.value.code == 500
        assert _get(llm_server.base_url + "/v1/chat/completions", chat())["choices"][0]["message"]["content"]
        assert llm_server.count("m") == 2
    finally:
        llm_server.stop()
    with pytest.raises(urllib.error.URLError):
        _get(llm_server.base_url + "/health")


def test_standalone_server_with_control_api() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tierflow.testing", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, proc.stderr.read() if proc.stderr else line
        base = line.split()[-1]
        assert _get(base + "/_control/script", {"model": "m", "behaviours": [{"kind": "status", "code": 502}]})["ok"]
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(base + "/v1/chat/completions", chat())
        assert info.value.code == 502
        assert _get(base + "/_control/default", {"model": "*", "behaviour": {"kind": "answer", "text": "yo"}})["ok"]
        assert _get(base + "/v1/chat/completions", chat("z"))["choices"][0]["message"]["content"] == "yo"
        assert _get(base + "/_control/count?model=m")["count"] == 1
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(base + "/_control/script", {"model": "m", "behaviours": [{"kind": "nope"}]})
        assert info.value.code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_standalone_server_reports_a_busy_port() -> None:
    llm_server = LLMTestServer.start_in_thread()
    try:
        done = subprocess.run([sys.executable, "-m", "tierflow.testing", "--port", str(llm_server.port)],
                              capture_output=True, text=True, timeout=30)
    finally:
        llm_server.stop()
    assert done.returncode == 1 and "cannot listen" in done.stderr and "Traceback" not in done.stderr


async def test_redirect_sends_the_location_and_nothing_else(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Redirect(308, "http://127.0.0.1:9/elsewhere?x=1")])
    async with http.post(llm_server.base_url + "/v1/chat/completions", json=chat(), allow_redirects=False) as r:
        assert r.status == 308 and r.headers["Location"] == "http://127.0.0.1:9/elsewhere?x=1"
    assert behaviour_from_dict({"kind": "redirect", "code": 301, "location": "/x"}) == Redirect(301, "/x")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1beta/models/m:generateContent"])
async def test_usage_can_be_left_out_or_replaced(path: str, llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    body = chat(max_tokens=50) if path != "/v1beta/models/m:generateContent" else \
        {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    llm_server.script("m", [Answer("x", usage=False), Answer("x", usage_override={"anything": "goes"})])
    _, plain, _ = await post(http, llm_server, body, path)
    _, replaced, _ = await post(http, llm_server, body, path)
    key = "usageMetadata" if "generateContent" in path else "usage"
    assert key not in plain and replaced[key] == {"anything": "goes"}


async def test_anthropic_cache_writes_in_usage(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    llm_server.script("m", [Answer("x", input_tokens=100, cached_tokens=10, cache_write_tokens=30, cache_write_1h_tokens=20)])
    _, body, _ = await post(http, llm_server, chat(max_tokens=10), "/v1/messages")
    assert body["usage"] == {"input_tokens": 60, "output_tokens": 1, "cache_read_input_tokens": 10,
                             "cache_creation_input_tokens": 30,
                             "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}


async def test_vertex_route(llm_server: LLMTestServer, http: aiohttp.ClientSession) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    status, answer, _ = await post(http, llm_server, body,
                                   "/v1/projects/p/locations/us-central1/publishers/google/models/g:generateContent")
    assert status == 200 and answer["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"
    assert llm_server.count("g") == 1


async def test_recording_server_keeps_every_request(http: aiohttp.ClientSession) -> None:
    async with RecordingServer() as rec:
        async with http.get(rec.base_url + "/a?b=1", headers={"X-K": "v"}):
            pass
        async with http.post(rec.base_url + "/c", data=b"body"):
            pass
    assert [(r.method, r.path, r.body) for r in rec.requests] == [("GET", "/a?b=1", b""), ("POST", "/c", b"body")]
    assert rec.requests[0].headers["X-K"] == "v" and "X-K" in rec.seen()
