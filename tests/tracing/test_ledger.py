"""The ledger for library use: a LedgerTracer, or the config's ``tracing: {ledger: F}``, records every call."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.engine import Engine
from tierflow.errors import AllTargetsFailedError, ConfigError
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode
from tierflow.testing import Answer, LLMTestServer, Status
from tierflow.tracing import LedgerTracer

LLM_CONFIG = """
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: test-key}}
models:
  - {{role: strong, ref: t, model: strong-model}}
  - {{role: fast, ref: t, model: fast-model}}
reliability: {{max_retries: 0, backoff_initial_s: 0.01, backoff_max_s: 0.02, jitter: 0}}
prices:
  t/strong-model: {{input_per_mtok: 10, output_per_mtok: 30}}
  t/fast-model: {{input_per_mtok: 1, output_per_mtok: 2}}
"""


def _rows(path: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def test_the_config_setting_records_every_call_of_every_client(llm_server: LLMTestServer,
                                                                     tmp_path: Path) -> None:
    ledger = tmp_path / "calls.sqlite"
    text = LLM_CONFIG.format(base=llm_server.base_url) + f"tracing: {{ledger: '{ledger}'}}\n"
    llm_server.set_default("strong-model", Status(503))
    llm_server.set_default("fast-model", Answer("hi", input_tokens=1000, output_tokens=500))
    async with Client(parse_config(text, source="test config")) as client:
        await client.acall("fast", "one")
        await client.acall("strong", "two", fallback=["fast"])
        with pytest.raises(AllTargetsFailedError):
            await client.acall("strong", "three")
    LedgerTracer.shared(ledger).close()
    rows = _rows(ledger, "SELECT requested, model, outcome, input_tokens, output_tokens, cost_usd, attempts, "
                         "messages FROM requests ORDER BY ts")
    assert [r[:3] for r in rows] == [("fast", "t/fast-model", "ok"), ("strong", "t/fast-model", "ok"),
                                     ("strong", "t/strong-model", "error")]
    assert rows[0][3:6] == (1000, 500, pytest.approx(0.002)) and rows[0][7] is None  # no content by default
    assert rows[1][6] == 2
    assert rows[2][3:6] == (None, None, 0.0)  # failed, no tokens used: $0, not unknown
    attempts = _rows(ledger, "SELECT target, outcome, status_code FROM attempts ORDER BY rowid")
    assert ("t/strong-model", "error", 503) in attempts


async def test_a_ledger_tracer_on_a_run_labels_its_rows(llm_server: LLMTestServer, client: Client,
                                                        tmp_path: Path) -> None:
    llm_server.set_default("fast-model", Answer("ok"))
    with GraphNode(name="g") as g:
        llm = LLMNode(name="answer", inputs={"messages": PARENT["q"]}, role="fast")
        START >> llm >> END
    tracer = LedgerTracer(tmp_path / "runs.sqlite", key_id="nightly-batch", user_id="u-7", store_content=True)
    await Engine(g, client=client).run(q="hello", tracer=tracer)
    tracer.close()
    (row,) = _rows(tmp_path / "runs.sqlite", "SELECT key_id, user, role, messages, answer FROM requests")
    assert row[:3] == ("nightly-batch", "u-7", "fast")
    assert "hello" in row[3] and row[4] == "ok"


_FRESH_CLIENT = """
import sys
from tierflow.calls import Client
from tierflow.config import load_config
assert "tierflow.tracing" not in sys.modules, "the call layer imported the tracing package"
with Client(load_config(sys.argv[1])) as client:
    client.call("fast", "one")
"""


async def test_a_config_ledger_loads_the_tracing_package_the_client_never_imports(llm_server: LLMTestServer,
                                                                                  tmp_path: Path) -> None:
    # a fresh interpreter: the client reaches the tracers through the core's hooks, which load the package
    ledger = tmp_path / "fresh.sqlite"
    config = tmp_path / "tierflow.yaml"
    config.write_text(LLM_CONFIG.format(base=llm_server.base_url) + f"tracing: {{ledger: '{ledger}'}}\n",
                      encoding="utf-8")
    llm_server.set_default("fast-model", Answer("hi"))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _FRESH_CLIENT, str(config),
                                                stderr=asyncio.subprocess.PIPE)  # the server answers meanwhile
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert _rows(ledger, "SELECT requested, model, outcome FROM requests") == [("fast", "t/fast-model", "ok")]


def test_a_misspelt_tracing_setting_is_refused_by_name(llm_server: LLMTestServer) -> None:
    text = LLM_CONFIG.format(base="http://127.0.0.1:9") + "tracing: {ledgr: x.sqlite}\n"
    with pytest.raises(ConfigError, match="tracing"):
        parse_config(text, source="test config")
