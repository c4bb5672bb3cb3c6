"""The ledger: a row per chat request and per attempt in a real SQLite file, feedback beside them."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tierflow.gateway import GatewaySettings
from tierflow.testing import CutStream, Hang, LLMTestServer, Status

MSG = [{"role": "user", "content": "one two three"}]


def rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def wait_rows(db: Path, n: int, table: str = "requests", timeout: float = 10.0) -> list[sqlite3.Row]:
    """The table's rows once it has ``n`` (the ledger commits in groups, every commit_interval_s)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        found = rows(db, f"SELECT * FROM {table} ORDER BY rowid") if db.exists() else []
        if len(found) >= n or loop.time() > end:
            return found
        await asyncio.sleep(0.02)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


async def test_every_request_and_attempt_is_recorded(gateway_factory, sdk_factory, upstream: LLMTestServer,
                                                     db: Path) -> None:
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05))
    client = sdk_factory(srv)
    upstream.script("strong-model", [Status(500)])
    ok = await client.chat.completions.with_raw_response.create(model="strong", messages=MSG, user="u7",
                                                                extra_headers={"x-request-id": "mine"})
    stream = await client.chat.completions.create(model="fast", messages=MSG, stream=True)
    _ = [c async for c in stream]
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="fast", messages=MSG, n=3)
    upstream.script("fast-model", [Status(503)])
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="fast", messages=MSG)
    found = await wait_rows(db, 4)
    assert len(found) == 4
    first = found[0]
    assert first["request_id"] == ok.headers["x-request-id"] and first["client_request_id"] == "mine"
    assert (first["requested"], first["role"], first["model"], first["provider"]) == (
        "strong", "strong", "t/backup-model", "t")
    assert (first["status"], first["outcome"], first["stream"], first["user"]) == (200, "ok", 0, "u7")
    assert (first["input_tokens"], first["output_tokens"], first["attempts"]) == (3, 4, 2)
    assert first["cost_usd"] == pytest.approx((3 * 2 + 4 * 4) / 1e6)
    assert first["latency_ms"] > 0 and first["ttft_ms"] is None
    assert first["messages"] is None and first["answer"] is None  # content is off by default
    streamed = found[1]
    assert (streamed["stream"], streamed["outcome"], streamed["model"]) == (1, "ok", "t/fast-model")
    assert 0 < streamed["ttft_ms"] <= streamed["latency_ms"]
    refused = found[2]
    assert (refused["status"], refused["outcome"], refused["error_code"], refused["model"]) == (
        400, "error", "unsupported_parameter", None)
    failed = found[3]
    assert (failed["status"], failed["error_code"], failed["attempts"]) == (502, "upstream_error", 1)
    # a failed request used no tokens: $0 whatever its model's price, not unknown (NULL)
    assert (refused["input_tokens"], refused["cost_usd"]) == (None, 0.0)
    assert (failed["input_tokens"], failed["cost_usd"]) == (None, 0.0)
    attempts = rows(db, "SELECT * FROM attempts WHERE request_id = ? ORDER BY n", first["request_id"])
    assert [(a["target"], a["outcome"], a["status_code"]) for a in attempts] == [
        ("t/strong-model", "error", 500), ("t/backup-model", "ok", None)]
    assert rows(db, "SELECT error FROM attempts WHERE request_id = ?", failed["request_id"])[0][0] == "ServerError"
    assert rows(db, "PRAGMA journal_mode")[0][0] == "wal"


async def test_interrupted_and_cancelled_streams_are_recorded_with_what_was_sent(
        gateway_factory, upstream: LLMTestServer, db: Path) -> None:
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05, store_content=True))
    upstream.script("fast-model", [CutStream(after_chunks=2, text="a b c d e f")])
    async with aiohttp.ClientSession() as http:
        async with http.post(srv.base_url + "/v1/chat/completions",
                             json={"model": "fast", "messages": MSG, "stream": True}) as resp:
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
    upstream.script("fast-model", [Hang(60)])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as http:
        with pytest.raises(TimeoutError):
            async with http.post(srv.base_url + "/v1/chat/completions",
                                 json={"model": "fast", "messages": MSG}) as resp:
                await resp.read()
    found = await wait_rows(db, 2)
    interrupted, cancelled = found
    assert (interrupted["status"], interrupted["outcome"], interrupted["answer"]) == (502, "interrupted", "a b")
    assert json.loads(interrupted["messages"]) == MSG
    assert (cancelled["status"], cancelled["outcome"]) == (499, "cancelled")
    assert interrupted["cost_usd"] is None  # part of an answer was sent: tokens were used, their cost unknown


async def test_feedback_is_stored_for_a_known_request_only(gateway_factory, sdk_factory, db: Path) -> None:
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05))
    raw = await sdk_factory(srv).chat.completions.with_raw_response.create(model="fast", messages=MSG)
    request_id = raw.headers["x-request-id"]
    async with aiohttp.ClientSession() as http:
        async def post(body: Any) -> tuple[int, Any]:
            async with http.post(srv.base_url + "/v1/feedback", json=body) as resp:
                return resp.status, await resp.json()

        status, body = await post({"request_id": request_id, "score": 0.75, "label": "good"})
        assert status == 200 and body["score"] == 0.75
        status, body = await post({"request_id": "0" * 32, "score": 1})
        assert status == 404 and body["error"]["code"] == "request_not_found"
        for bad, param in (({"request_id": request_id, "score": 1.5}, "score"),
                           ({"request_id": request_id, "score": True}, "score"),
                           ({"request_id": request_id, "score": 1, "label": "x" * 201}, "label"),
                           ({"request_id": request_id, "score": 1, "weight": 2}, "weight"),
                           ({"score": 1}, "request_id")):
            status, body = await post(bad)
            assert status == 400 and body["error"]["param"] == param
    stored = await wait_rows(db, 1, "feedback")
    assert [(f["request_id"], f["score"], f["label"]) for f in stored] == [(request_id, 0.75, "good")]


async def test_a_request_that_used_no_tokens_costs_nothing_and_one_with_tokens_and_no_price_stays_unknown(
        gateway_factory, sdk_factory, upstream: LLMTestServer, db: Path) -> None:
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05),
                                models_yaml="  - {role: unpriced, ref: t, model: unpriced-model}\n")
    client = sdk_factory(srv)
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="no-such-role", messages=MSG)
    upstream.script("unpriced-model", [Status(503)])
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="unpriced", messages=MSG)
    await client.chat.completions.create(model="unpriced", messages=MSG)
    missing, failed, answered = await wait_rows(db, 3)
    assert (missing["status"], missing["cost_usd"]) == (404, 0.0)
    assert (failed["outcome"], failed["role"], failed["cost_usd"]) == ("error", "unpriced", 0.0)
    assert answered["outcome"] == "ok" and answered["input_tokens"] > 0 and answered["cost_usd"] is None
