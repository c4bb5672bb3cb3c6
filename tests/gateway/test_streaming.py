"""SSE streaming through the gateway, read by the OpenAI SDK and by plain HTTP."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from tierflow.testing import CutStream, Hang, LLMTestServer, SlowStream, Status

MSG = [{"role": "user", "content": "one two three four"}]


async def test_stream_with_usage_names_the_model_in_every_chunk_and_reports_at_the_end(
        gateway, sdk: openai.AsyncOpenAI) -> None:
    async with sdk.chat.completions.with_streaming_response.create(
            model="strong", messages=MSG, stream=True, stream_options={"include_usage": True}) as resp:
        assert resp.headers["x-tierflow-model"] == "t/strong-model"
        assert resp.headers["x-tierflow-role"] == "strong"
        chunks = [c async for c in await resp.parse()]
    assert {c.model for c in chunks} == {"t/strong-model"}
    assert len({c.id for c in chunks}) == 1 and chunks[0].id == f"chatcmpl-{resp.headers['x-request-id']}"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two three four"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens == 5
    report = last.model_extra["tierflow"]
    assert report["cost_usd"] == pytest.approx((4 * 10 + 5 * 30) / 1e6)
    assert report["attempts"] == [{"target": "t/strong-model", "outcome": "ok", "error": None, "status_code": None}]


async def test_stream_without_usage_ends_with_the_finish_chunk_carrying_the_report(
        gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    upstream.script("strong-model", [Status(503)])
    stream = await sdk.chat.completions.create(model="strong", messages=MSG, stream=True)
    chunks = [c async for c in stream]
    assert all(c.choices for c in chunks)  # no usage chunk with empty choices unless asked for
    assert {c.model for c in chunks} == {"t/backup-model"}
    assert chunks[-1].choices[0].finish_reason == "stop"
    report = chunks[-1].model_extra["tierflow"]
    assert [a["outcome"] for a in report["attempts"]] == ["error", "ok"]
    assert report["model"] == "t/backup-model"


async def test_the_raw_event_stream_ends_with_done(gateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.base_url + "/v1/chat/completions",
                             json={"model": "fast", "messages": MSG, "stream": True}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            raw = (await resp.read()).decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2][6:])["tierflow"]["model"] == "t/fast-model"


# --- the streaming rules ---------------------------------------------------------------------------

LONG = " ".join(f"w{i}" for i in range(40))


async def test_a_failure_before_content_falls_back_and_the_stream_starts_only_then(
        gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    upstream.script("strong-model", [CutStream(after_chunks=0)])
    stream = await sdk.chat.completions.create(model="strong", messages=MSG, stream=True)
    chunks = [c async for c in stream]
    assert {c.model for c in chunks} == {"t/backup-model"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: one two three four"
    assert [a["outcome"] for a in chunks[-1].model_extra["tierflow"]["attempts"]] == ["error", "ok"]


async def test_a_chain_failing_before_content_is_an_error_status_not_a_200(gateway, upstream: LLMTestServer) -> None:
    upstream.script("fast-model", [Status(500)])
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.base_url + "/v1/chat/completions",
                             json={"model": "fast", "messages": MSG, "stream": True}) as resp:
            assert resp.status == 502
            assert resp.headers["Content-Type"].startswith("application/json")
            body = await resp.json()
    assert body["error"]["code"] == "upstream_error"


async def test_a_failure_after_content_ends_with_an_error_event_and_no_clean_end(
        gateway, sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    upstream.script("strong-model", [CutStream(after_chunks=2, text=LONG)])
    received: list[str] = []
    with pytest.raises(openai.APIError) as err:
        stream = await sdk.chat.completions.create(model="strong", messages=MSG, stream=True)
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "stream failed after" in err.value.message
    assert "".join(received) == "w0 w1"  # what was delivered stands, nothing twice, nothing replayed
    assert upstream.count("backup-model") == 0  # committed to the first target: no fallback after content

    upstream.script("fast-model", [CutStream(after_chunks=1, text=LONG)])
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.base_url + "/v1/chat/completions",
                             json={"model": "fast", "messages": MSG, "stream": True}) as resp:
            assert resp.status == 200
            raw = b""
            with pytest.raises(aiohttp.ClientPayloadError):  # the body is cut, not ended cleanly
                async for data in resp.content.iter_any():
                    raw += data
    events = [e for e in raw.decode().split("\n\n") if e]
    assert "[DONE]" not in raw.decode()
    error = json.loads(events[-1][6:])["error"]
    assert error["type"] == "server_error" and error["code"] == "upstream_error"
    contents = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert contents == ["", "w0"]


async def test_a_client_disconnect_before_content_cancels_the_upstream_at_once(
        gateway, upstream: LLMTestServer) -> None:
    for stream in (True, False):
        upstream.script("fast-model", [Hang(60)])
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as http:
            with pytest.raises(TimeoutError):
                async with http.post(gateway.base_url + "/v1/chat/completions",
                                     json={"model": "fast", "messages": MSG, "stream": stream}) as resp:
                    await resp.read()
        # the test server notices a closed connection within 10 ms while it hangs: without the
        # cancellation the gateway would keep the upstream request open for the whole minute
        assert await upstream.wait_for_disconnect("fast-model", n=1 if stream else 2, timeout=10)


async def test_chunks_are_relayed_as_they_come_and_a_disconnect_mid_stream_closes_the_upstream(
        gateway, upstream: LLMTestServer) -> None:
    upstream.script("fast-model", [SlowStream(chunk_delay=0.5, fast_chunks=2, text=LONG)])
    async with aiohttp.ClientSession() as http:
        resp = await http.post(gateway.base_url + "/v1/chat/completions",
                               json={"model": "fast", "messages": MSG, "stream": True})
        seen = ""
        while seen.count("data: ") < 3:  # the role chunk and the two fast ones, long before the other 38
            seen += (await resp.content.readany()).decode()
        assert '"w0"' in seen and '" w1"' in seen
        resp.close()  # the client goes away mid-stream
    assert await upstream.wait_for_disconnect("fast-model", timeout=10)
    assert upstream.count("fast-model") == 1
