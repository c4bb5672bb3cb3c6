"""The gateway in front of the loopback LLM test server, both on real sockets in the test's loop.

``gateway_factory(settings=..., extra_yaml=..., mounts=...)`` starts a gateway on a free port for one config;
``sdk(srv)`` is the official OpenAI client pointed at it. Nothing is patched.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from tierflow.config import parse_config
from tierflow.gateway import Gateway, GatewayServer, GatewaySettings, Mount
from tierflow.testing import LLMTestServer

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"
CONFIG = """
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: "{key}"}}
models:
  - {{role: strong, ref: t, model: strong-model, fallback: [{{ref: t, model: backup-model}}]}}
  - {{role: fast, ref: t, model: fast-model}}
{models}reliability: {{max_retries: 0, backoff_initial_s: 0.01, backoff_max_s: 0.02, jitter: 0,
               cooldown: {{failures: 3, seconds: 30}}}}
prices:
  t/strong-model: {{input_per_mtok: 10, output_per_mtok: 30}}
  t/fast-model: {{input_per_mtok: 1, output_per_mtok: 2}}
  t/backup-model: {{input_per_mtok: 2, output_per_mtok: 4}}
{extra}
"""


def config_text(upstream: LLMTestServer, extra: str = "", models: str = "") -> str:
    """The test config; ``models``: more registry entries (lines of ``  - {...}``), ``extra``: more sections."""
    return CONFIG.format(base=upstream.base_url, key=UPSTREAM_KEY, extra=extra, models=models)


@pytest.fixture
def upstream(llm_server: LLMTestServer) -> LLMTestServer:
    """The gateway's upstream: the suite's one loopback server fixture (tests/conftest.py), by this name."""
    return llm_server


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def gateway_factory(upstream: LLMTestServer, tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Start gateways on this config; each has its own ledger in ``tmp_path`` unless settings name one."""
    async with AsyncExitStack() as stack:
        async def start(settings: GatewaySettings | None = None, extra_yaml: str = "", models_yaml: str = "",
                        mounts: Sequence[Mount] = (), **options: Any) -> GatewayServer:
            config = parse_config(config_text(upstream, extra_yaml, models_yaml), source="test config")
            settings = settings or GatewaySettings()
            if settings.database is None:
                settings = settings.model_copy(update={"database": str(tmp_path / f"gw-{uuid.uuid4().hex}.sqlite")})
            gateway = Gateway(config, settings, **options)
            gateway.check()
            return await stack.enter_async_context(GatewayServer(gateway, port=0, mounts=mounts))

        yield start


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> GatewayServer:
    return await gateway_factory()


@pytest.fixture
async def sdk_factory() -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    clients: list[openai.AsyncOpenAI] = []

    def make(srv: GatewayServer, *, max_retries: int = 0, api_key: str = "unused") -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=srv.base_url + "/v1", api_key=api_key, max_retries=max_retries)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def sdk(gateway: GatewayServer, sdk_factory: Callable[..., openai.AsyncOpenAI]) -> openai.AsyncOpenAI:
    return sdk_factory(gateway)
