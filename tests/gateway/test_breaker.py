"""The circuit breaker across requests: the gateway's one client shares it, so a dead primary is hit
at most the breaker's documented number of times (``failures``) plus the requests already in
flight when it opened, across all requests and connections, until its cooldown ends. The upstream
test server counts the requests that reach it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tierflow.calls import AttemptFinished, AttemptStarted, CallEvent
from tierflow.config import parse_config
from tierflow.gateway import Gateway, GatewayServer, GatewaySettings
from tierflow.testing import LLMTestServer, Status

FAILURES = 3
SECONDS = 600
BURSTS = (8, 64, 64, 64)


def _config(base: str) -> str:
    # one upstream connection: a dead endpoint's errors come back in the order the requests were
    # sent, the condition of the documented bound (tierflow.calls.cooldown)
    return f"""
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: k, max_connections: 1}}
  b: {{kind: openai, base_url: "{base}/v1", api_key: k}}
models:
  - {{role: strong, ref: t, model: dead-model, fallback: [{{ref: b, model: backup-model}}]}}
reliability: {{max_retries: 0, cooldown: {{failures: {FAILURES}, seconds: {SECONDS}}}}}
"""


async def _post(http: aiohttp.ClientSession, base: str, i: int) -> tuple[int, str]:
    async with http.post(base + "/v1/chat/completions",
                         json={"model": "strong", "messages": [{"role": "user", "content": f"q{i}"}]}) as resp:
        await resp.read()
        return resp.status, resp.headers.get("x-tierflow-model", "")


async def test_a_dead_primary_is_hit_at_most_failures_plus_in_flight_across_requests(tmp_path: Path) -> None:
    async with LLMTestServer() as upstream:
        upstream.set_default("dead-model", Status(500))
        gateway = Gateway(parse_config(_config(upstream.base_url)), GatewaySettings(database=str(tmp_path / "g.db")))
        in_flight, started_before_open, at_open = 0, 0, []

        def observe(event: CallEvent) -> None:
            nonlocal in_flight, started_before_open
            if isinstance(event, AttemptStarted) and event.target == "t/dead-model":
                in_flight += 1
                if not at_open:
                    started_before_open += 1
            elif isinstance(event, AttemptFinished) and event.target == "t/dead-model" \
                    and event.outcome != "skipped_cooldown":
                in_flight -= 1
                if not at_open and gateway.client.breakers.is_open(event.target):
                    at_open.append(in_flight)

        gateway.client.add_observer(observe)
        async with GatewayServer(gateway, port=0) as srv:
            # 8 requests at once, then 3 bursts of 64 from fresh sessions (three "processes" of
            # clients): the breaker is the gateway's, shared by all of them
            for burst in BURSTS:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
                    answers = await asyncio.gather(*(_post(http, srv.base_url, i) for i in range(burst)))
                assert answers == [(200, "b/backup-model")] * burst  # every request answered by the fallback
        assert at_open, "the breaker never opened"
        hits = upstream.count("dead-model")
        assert hits <= FAILURES + at_open[0]
        assert hits == started_before_open <= BURSTS[0]  # nothing was sent to it after it opened
        assert upstream.count("backup-model") == sum(BURSTS)
