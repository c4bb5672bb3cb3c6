"""Per-key limits: requests and tokens per minute, and dollar budgets by reservation (never overshot)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tierflow.gateway import GatewaySettings
from tierflow.testing import CutStream, Hang, LLMTestServer

ADMIN = "admin-secret-for-tests-0123456789"
MSG = [{"role": "user", "content": "hi"}]
# worst case of MSG with max_tokens=1000 on fast-model ($1 / $2 per Mtok): every input byte a token
# (2 content + 8 per message + 16 per request; the role adds no system context) and all 1000 output
# tokens: Client.worst_case_cost
WORST = (26 * 1 + 1000 * 2) / 1e6


async def _new_key(base: str, **limits: Any) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/admin/keys", json={"name": "k", **limits},
                             headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
            assert resp.status == 201, await resp.text()
            return (await resp.json())["key"]


async def test_requests_per_minute(gateway_factory, sdk_factory, upstream: LLMTestServer) -> None:
    srv = await gateway_factory(admin_key=ADMIN)
    client = sdk_factory(srv, api_key=await _new_key(srv.base_url, rpm=2))
    for _ in range(2):
        await client.chat.completions.create(model="fast", messages=MSG)
    with pytest.raises(openai.RateLimitError) as err:
        await client.chat.completions.create(model="fast", messages=MSG)
    assert err.value.body["code"] == "rate_limit_exceeded" and "2 requests per minute" in err.value.body["message"]
    assert 0 < int(err.value.response.headers["Retry-After"]) <= 60
    assert upstream.count("fast-model") == 2


async def test_tokens_per_minute_reserve_an_estimate_and_count_the_real_tokens(
        gateway_factory, sdk_factory, upstream: LLMTestServer) -> None:
    srv = await gateway_factory(admin_key=ADMIN)
    client = sdk_factory(srv, api_key=await _new_key(srv.base_url, tpm=20))
    # each request reserves ceil(26 / 4) = 7 input tokens + 5 max tokens, and uses 3 (1 in, 2 out)
    for _ in range(3):
        await client.chat.completions.create(model="fast", messages=MSG, max_tokens=5)
    with pytest.raises(openai.RateLimitError) as err:
        await client.chat.completions.create(model="fast", messages=MSG, max_tokens=5)
    assert "20 tokens per minute (9 used or reserved" in err.value.body["message"]
    assert upstream.count("fast-model") == 3


async def test_concurrent_requests_never_overshoot_a_dollar_budget(
        gateway_factory, sdk_factory, upstream: LLMTestServer, tmp_path: Path) -> None:
    db = tmp_path / "budget.sqlite"
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05), admin_key=ADMIN)
    budget = 2.5 * WORST  # room for two requests in flight, not three
    client = sdk_factory(srv, api_key=await _new_key(srv.base_url, usd_per_day=budget))
    upstream.script("fast-model", [Hang(5)] * 2)  # the admitted ones stay in flight while the rest arrive

    async def one() -> str:
        try:
            await client.chat.completions.create(model="fast", messages=MSG, max_tokens=1000)
            return "ok"
        except openai.RateLimitError as exc:
            assert exc.body["code"] == "budget_exceeded"
            assert "reserved by requests in flight" in exc.body["message"]
            return "refused"

    outcomes = await asyncio.gather(*(one() for _ in range(6)))
    assert sorted(outcomes) == ["ok"] * 2 + ["refused"] * 4
    assert upstream.count("fast-model") == 2
    await srv.close()  # writes the ledger
    charged = sqlite3.connect(db).execute("SELECT sum(charged_usd), count(*) FROM requests").fetchone()
    assert charged[1] == 6 and charged[0] <= budget
    assert charged[0] == pytest.approx(2 * (1 * 1 + 2 * 2) / 1e6)  # settled to the real cost


async def test_a_budgeted_key_without_max_tokens_gets_the_configured_cap(
        gateway_factory, sdk_factory, upstream: LLMTestServer) -> None:
    srv = await gateway_factory(GatewaySettings(budget_max_tokens=321), admin_key=ADMIN)
    client = sdk_factory(srv, api_key=await _new_key(srv.base_url, usd_per_month=1))
    await client.chat.completions.create(model="fast", messages=MSG)
    assert upstream.requests[-1]["max_tokens"] == 321


async def test_spend_survives_a_restart(gateway_factory, sdk_factory, upstream: LLMTestServer,
                                        tmp_path: Path) -> None:
    settings = GatewaySettings(database=str(tmp_path / "spend.sqlite"))
    first = await gateway_factory(settings, admin_key=ADMIN)
    key = await _new_key(first.base_url, usd_per_day=1.5 * WORST)
    upstream.script("fast-model", [CutStream(after_chunks=1)])  # interrupted: charged its worst case
    with pytest.raises(openai.APIError):
        stream = await sdk_factory(first, api_key=key).chat.completions.create(
            model="fast", messages=MSG, max_tokens=1000, stream=True)
        _ = [c async for c in stream]
    await first.close()
    second = await gateway_factory(settings, admin_key=ADMIN)
    with pytest.raises(openai.RateLimitError) as err:
        await sdk_factory(second, api_key=key).chat.completions.create(model="fast", messages=MSG, max_tokens=1000)
    assert err.value.body["code"] == "budget_exceeded"
    assert f"${WORST:.6f} spent" in err.value.body["message"]
    assert upstream.count("fast-model") == 1
