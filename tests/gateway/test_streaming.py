"""SSE streaming through the gateway, read by the OpenAI SDK and by plain HTTP."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest

from tierflow.testing import LLMTestServer, Status

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
