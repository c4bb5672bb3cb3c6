"""A live test server and a client configured against it (fast backoff, short cooldown)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.testing import LLMTestServer

SECRET = "sk-test-SECRET-0123456789"


def config_text(base_url: str, *, extra: str = "", total: float = 5.0, failures: int = 3,
                seconds: float = 30.0, max_retries: int = 2, strict: bool = False,
                priced: bool = True, idle: float = 2.0) -> str:
    prices = '{"srv/*": {input_per_mtok: 1.0, output_per_mtok: 2.0}}' if priced else "{}"
    return f"""
providers:
  srv: {{kind: openai, base_url: "{base_url}/v1", api_key: "{SECRET}", timeouts: {{connect: 2, total: {total}, stream_idle: {idle}}}}}
  dead: {{kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: "{SECRET}", timeouts: {{connect: 0.5, total: 2}}}}
models:
  - {{role: primary, ref: srv, model: a, fallback: [{{ref: srv, model: b}}]}}
  - {{role: fast, ref: srv, model: c, temperature: 0.2, system_context: "Be brief."}}
  - {{role: solo, ref: srv, model: a}}
{extra}
reliability: {{max_retries: {max_retries}, backoff_initial_s: 0.001, backoff_max_s: 0.002, cooldown: {{failures: {failures}, seconds: {seconds}}}}}
prices: {prices}
strict_cost: {str(strict).lower()}
"""


class ManualClock:
    """A clock the test moves by hand (``clock.now += 30``): no sleep races a cooldown."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_client(llm_server: LLMTestServer) -> AsyncIterator[Callable[..., Client]]:
    clients: list[Client] = []

    def make(clock: Callable[[], float] = time.monotonic, **kw: object) -> Client:
        client = Client(parse_config(config_text(llm_server.base_url, **kw), source="test.yaml"),  # type: ignore[arg-type]
                        clock=clock)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def client(make_client: Callable[..., Client]) -> Client:
    return make_client()
