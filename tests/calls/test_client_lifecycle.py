"""Closing a client: sync and async context managers, calls in flight, clients never closed."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable

import aiohttp
import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import ClientClosedError
from tierflow.testing import Hang, LLMTestServer

from .conftest import config_text


def _open_sessions() -> list[aiohttp.ClientSession]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession) and not o.closed]


def test_a_client_is_a_sync_context_manager() -> None:
    llm_server = LLMTestServer.start_in_thread()
    try:
        before = _open_sessions()
        with Client(parse_config(config_text(llm_server.base_url))) as client:
            assert client.call("primary", "one two").text == "echo: one two"
            portal = client._portal
        assert portal is not None and portal.loop.is_closed()
        assert [s for s in _open_sessions() if s not in before] == []
        with pytest.raises(ClientClosedError, match="create a new Client"):
            client.call("primary", "again")
    finally:
        llm_server.stop()


_NEVER_CLOSED = """
import gc, sys
from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.testing import LLMTestServer
srv = LLMTestServer.start_in_thread()
config = parse_config('''
providers: {{srv: {{kind: openai, base_url: "{{url}}/v1", api_key: k}}}}
models: [{{role: primary, ref: srv, model: a}}]
'''.replace("{{url}}", srv.base_url))
dropped = Client(config)
print(dropped.call("primary", "one").text)
del dropped  # collected mid-program: its finalizer closes what it opened
gc.collect()
kept = Client(config)
print(kept.call("primary", "two").text)
{ending}
"""


@pytest.mark.parametrize("ending", ["", "sys.exit(0)", "raise SystemExit(3)"])
def test_a_sync_client_never_closed_leaves_no_unclosed_session_warning(ending: str) -> None:
    script = textwrap.dedent(_NEVER_CLOSED.format(ending=ending))
    out = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-X", "dev", "-c", script],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["echo:", "one", "echo:", "two"], out.stderr
    assert "Unclosed" not in out.stderr and "unclosed" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr


async def test_aclose_with_calls_in_flight_opens_no_session_again(make_client: Callable[..., Client],
                                                                  llm_server: LLMTestServer) -> None:
    before = _open_sessions()
    client = make_client()
    llm_server.set_default("a", Hang(5))
    calls = [asyncio.create_task(client.acall("primary", "x")) for _ in range(5)]
    while llm_server.count("a") < 5:
        await asyncio.sleep(0.01)
    await client.aclose()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ClientClosedError) for r in results), results
    assert llm_server.count("b") == 0  # no fallback either: the client is closed
    assert [s for s in _open_sessions() if s not in before] == []
    with pytest.raises(ClientClosedError):
        await client.acall("primary", "x")
    with pytest.raises(ClientClosedError):
        client.astream("primary", "x")
    await client.aclose()  # twice is fine


async def test_close_inside_a_running_loop_with_sessions_open_there_points_to_aclose(
        make_client: Callable[..., Client]) -> None:
    client = make_client()
    await client.acall("primary", "x")
    with pytest.raises(RuntimeError, match="aclose"):
        client.close()
    await client.aclose()


def test_close_after_async_use_on_a_finished_loop() -> None:
    llm_server = LLMTestServer.start_in_thread()
    try:
        before = _open_sessions()
        client = Client(parse_config(config_text(llm_server.base_url)))
        asyncio.run(client.acall("primary", "x"))  # its loop is closed now, its session not
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.close()
            gc.collect()  # a coroutine never awaited warns when it is collected
        assert [s for s in _open_sessions() if s not in before] == []
        assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    finally:
        llm_server.stop()
