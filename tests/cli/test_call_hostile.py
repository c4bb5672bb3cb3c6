"""The CLI shows a clear error, no traceback, for hostile answers, unsendable prompts and bad base URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.testing import Answer, Behaviour, Garbage, LLMTestServer

runner = CliRunner()


def _config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "tierflow.yaml"
    path.write_text(f"""
providers:
  srv: {{kind: openai, base_url: "{base_url}", api_key: test}}
models:
  - {{role: main, ref: srv, model: m}}
reliability: {{max_retries: 0}}
""")
    return path


def _clean_exit(res: Result, code: int = 1) -> None:
    """Exited with ``code`` through the CLI's own error path (no exception escaped, no traceback)."""
    assert isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == code and "Traceback" not in res.output


@pytest.mark.parametrize("behaviour", [Garbage("[" * 100_000 + "]" * 100_000),
                                       Answer("x", usage_override={"prompt_tokens": "12"}),
                                       Garbage('{"choices": [{"message": "a string"}]}')],
                         ids=["deep", "string-count", "shape"])
def test_malformed_answers_are_reported_not_raised(behaviour: Behaviour, srv: LLMTestServer, tmp_path: Path) -> None:
    srv.reset()
    srv.set_default("m", behaviour)
    res = runner.invoke(app, ["call", "--role", "main", "--config", str(_config(tmp_path, srv.base_url)), "hi"])
    _clean_exit(res)
    assert "ResponseFormatError" in res.stderr and "srv/m" in res.stderr


def test_a_prompt_with_a_lone_surrogate_is_refused(srv: LLMTestServer, tmp_path: Path) -> None:
    srv.reset()
    # what Python makes of invalid UTF-8 bytes in a command-line argument (surrogateescape)
    res = runner.invoke(app, ["call", "--role", "main", "--config", str(_config(tmp_path, srv.base_url)),
                              "caf\udce9"])
    _clean_exit(res)
    assert "BadRequestError" in res.stderr and "surrogate" in res.stderr and srv.count() == 0


@pytest.mark.parametrize(("url", "expected"), [
    ("file:///etc/passwd", "not file:"), ("ftp://example.com/v1", "not ftp:"), ("unix:/var/run/llm.sock", "not unix:"),
    ("", "is empty"), ("http://admin:hunter2-SECRET@127.0.0.1:8000/v1", "must not carry credentials"),
    ("https://gw.example.com/v1?key=QUERY-SECRET-123", "must not carry a query"), ("https://gw:99999/v1", "not a valid URL")])
def test_config_check_refuses_bad_base_urls(url: str, expected: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["config", "check", str(_config(tmp_path, url))])
    _clean_exit(res)
    assert "providers.srv.base_url" in res.stderr and expected in res.stderr
    assert "SECRET" not in res.output and "hunter2" not in res.output
