"""``python -m tierflow.testing``: its help documents the control API, and its subcommands script a
running server from another process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tierflow.testing import LLMTestServer
from tierflow.testing.__main__ import CONTROL_API, main
from tierflow.testing.behaviours import _KINDS


@pytest.fixture
def srv() -> Iterator[LLMTestServer]:
    server = LLMTestServer.start_in_thread()
    try:
        yield server
    finally:
        server.stop()


def _chat(srv: LLMTestServer, model: str) -> int:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(srv.base_url + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_help_documents_every_route_and_behaviour_kind() -> None:
    proc = subprocess.run([sys.executable, "-m", "tierflow.testing", "--help"], capture_output=True, text=True,
                          timeout=60, check=True)
    for route in ("/_control/script", "/_control/default", "/_control/reset", "/_control/count", "/health"):
        assert route in proc.stdout
    for kind in _KINDS:
        assert f"  {kind} " in proc.stdout
    for command in ("wait", "script", "default", "reset", "count"):
        assert command in proc.stdout
    assert "code (required)" in CONTROL_API  # a status behaviour's required field


def test_script_default_count_and_reset_from_the_command_line(srv: LLMTestServer,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = ["--url", srv.base_url]
    assert main(["wait", *url]) == 0
    assert main(["script", *url, "m", '{"kind": "status", "code": 503}', '{"kind": "answer", "text": "ok"}']) == 0
    assert main(["default", *url, "m", '{"kind": "status", "code": 429}']) == 0
    assert [_chat(srv, "m") for _ in range(3)] == [503, 200, 429]
    assert main(["count", *url, "m"]) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 3, "disconnects": 0}
    assert main(["reset", *url]) == 0
    assert _chat(srv, "m") == 200 and srv.count("m") == 1


def test_bad_behaviour_is_refused_before_anything_is_sent(srv: LLMTestServer,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["script", "--url", srv.base_url, "m", '{"kind": "teleport"}']) == 1
    err = capsys.readouterr().err
    assert "behaviour 1" in err and "teleport" in err and "kind" in err
    assert main(["script", "--url", srv.base_url, "m", "{not json"]) == 1
    assert "behaviour 1" in capsys.readouterr().err
    assert _chat(srv, "m") == 200  # nothing was scripted


def test_no_server_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "no test server at http://127.0.0.1:9" in err and "--port" in err
    assert main(["wait", "--url", "http://127.0.0.1:9", "--timeout", "0.2"]) == 1
    assert "within 0.2 s" in capsys.readouterr().err


def test_url_comes_from_the_environment(srv: LLMTestServer, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TIERFLOW_TEST_SERVER", srv.base_url)
    assert main(["count"]) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 0, "disconnects": 0}


@pytest.mark.parametrize(("body", "expected"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"behaviours": []}', "'model' is missing"),
    (b'{"model": "m", "behaviours": [{"kind": "nope"}]}', "'kind'"),
])
def test_control_api_answers_400_naming_the_problem(srv: LLMTestServer, body: bytes, expected: str) -> None:
    req = urllib.request.Request(srv.base_url + "/_control/script", data=body,
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400
    message = json.loads(info.value.read())["error"]
    assert expected in message and '"behaviours"' in message


def _readme_session(repo_root: Path) -> str:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- test-server-session -->\n```bash\n", 1)[1].split("\n```\n", 1)[0]
    return block + "\n"


def test_the_readme_session_runs_as_written(repo_root: Path, tmp_path: Path) -> None:
    """The README's shell session: serve, script a 503, watch the fallback announced, count, reset."""
    with socket.socket() as s:  # a free port instead of the README's 8765 (tests run side by side)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = _readme_session(repo_root).replace("8765", str(port))
    bin_dir = tmp_path / "bin"  # `python` and `tierflow` as the README's reader has them
    bin_dir.mkdir()
    for name, run in (("python", f'"{sys.executable}" "$@"'), ("tierflow", f'"{sys.executable}" -m tierflow.cli "$@"')):
        (bin_dir / name).write_text(f"#!/bin/sh\nexec {run}\n")
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(["bash", "-e", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the background server, if the script stopped early
    assert proc.returncode == 0, err
    assert "echo: Hello\n" in out and '{"count": 1, "disconnects": 0}' in out
    assert "tierflow: chat -> fake/gpt-y (fallback: fake/gpt-x ServerError HTTP 503) | 1+2 tokens | $0.000005 | " in err
