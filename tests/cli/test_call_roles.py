"""``tierflow call``: the role it calls by default, and how it refuses a role it cannot call."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.testing import LLMTestServer

runner = CliRunner()


@pytest.fixture
def cfg(srv: LLMTestServer, tmp_path: Path) -> Path:
    srv.reset()
    path = tmp_path / "tierflow.yaml"
    path.write_text(f"""
providers: {{srv: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: k}}}}
models:
  - {{role: main, ref: srv, model: main-model}}
  - {{role: fast, ref: srv, model: fast-model}}
  - {{role: embedder, ref: srv, model: embed-model, modalities: [embedding]}}
reliability: {{max_retries: 0}}
""", encoding="utf-8")
    return path


def call(cfg: Path, *args: str) -> Result:
    return runner.invoke(app, ["call", "--config", str(cfg), *args])


def test_without_role_the_first_entry_answers(cfg: Path, srv: LLMTestServer) -> None:
    result = call(cfg, "--json", "hello")
    assert result.exit_code == 0, result.stderr
    assert '"model_used": "srv/main-model"' in result.stdout


def test_primary_is_not_an_alias_of_the_first_entry(cfg: Path, srv: LLMTestServer) -> None:
    result = call(cfg, "--role", "primary", "hello")
    assert result.exit_code == 1 and "unknown role 'primary'" in result.stderr
    assert srv.count() == 0


def test_a_role_typo_suggests_the_declared_role(cfg: Path) -> None:
    result = call(cfg, "--role", "fsat", "hello")
    assert result.exit_code == 1 and "Did you mean 'fast'?" in result.stderr


def test_an_embedding_role_is_refused_for_chat(cfg: Path, srv: LLMTestServer) -> None:
    result = call(cfg, "--role", "embedder", "hello")
    assert result.exit_code == 1
    assert "role 'embedder' has modalities ['embedding']" in result.stderr
    assert "Traceback" not in result.output and srv.count() == 0
