"""Shared fixtures: where the shared data lives, the repository root, and a real call layer
talking to the project's loopback LLM test server (no patched clients).

Skips are made visible by the hooks of ``_skip_report.py``: the summary lists every skip reason with
the test files it hit, and with ``CI=true`` (CI has the shared data and every model) any skip fails
the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _skip_report import pytest_runtest_logreport, pytest_sessionfinish, pytest_terminal_summary

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.testing import LLMTestServer

REPO_ROOT = Path(__file__).resolve().parent.parent
__all__ = ["pytest_runtest_logreport", "pytest_sessionfinish", "pytest_terminal_summary"]  # hooks, re-exported


def shared_data_dir() -> Path:
    """``$TIERFLOW_SHARED_DATA`` or ``../shared/data`` next to the repository."""
    return Path(os.environ.get("TIERFLOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set TIERFLOW_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


LLM_CONFIG = """
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: test-key}}
models:
  - {{role: strong, ref: t, model: strong-model}}
  - {{role: fast, ref: t, model: fast-model}}
  - {{role: backup, ref: t, model: backup-model}}
reliability: {{max_retries: 0, backoff_initial_s: 0.01, backoff_max_s: 0.02, jitter: 0}}
prices:
  t/strong-model: {{input_per_mtok: 10, output_per_mtok: 30}}
  t/fast-model: {{input_per_mtok: 1, output_per_mtok: 2}}
  t/backup-model: {{input_per_mtok: 2, output_per_mtok: 4}}
"""


@pytest.fixture
async def llm_server() -> AsyncIterator[LLMTestServer]:
    """The loopback LLM server, one fresh per test: the one fixture every test package uses."""
    async with LLMTestServer() as srv:
        yield srv


@pytest.fixture
async def client(llm_server: LLMTestServer) -> AsyncIterator[Client]:
    """A client on the test server with roles strong / fast / backup (tests/calls has its own)."""
    c = Client(parse_config(LLM_CONFIG.format(base=llm_server.base_url), source="test config"))
    yield c
    await c.aclose()

