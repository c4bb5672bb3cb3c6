"""``tierflow serve`` as a real process: it serves the OpenAI SDK, stops on SIGTERM, and refuses to
start (exit 1, every problem listed, nothing bound) on a bad config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tierflow.testing import LLMTestServer

CONFIG = """providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: sk-upstream-0123456789}}
models:
  - {{role: fast, ref: t, model: fast-model}}
prices:
  t/fast-model: {{input_per_mtok: 1, output_per_mtok: 2}}
gateway:
  database: gw.sqlite
"""


def start_serve(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """``tierflow serve ARGS --port 0`` (in ``env``, default this process's); returns the process and
    its base URL once it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "tierflow.cli", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"tierflow serve did not start: {line!r} {err}")
    return proc, line.split("listening on ", 1)[1].split()[0]


@pytest.fixture
def upstream(srv: LLMTestServer) -> LLMTestServer:
    """The gateways' upstream: the module's loopback server (tests/cli/conftest.py), reset."""
    srv.reset()
    return srv


def test_serve_answers_the_openai_sdk_and_stops_cleanly_on_sigterm(tmp_path: Path, upstream: LLMTestServer) -> None:
    config = tmp_path / "tierflow.yaml"
    config.write_text(CONFIG.format(base=upstream.base_url), encoding="utf-8")
    proc, url = start_serve("--config", str(config))
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        completion = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "ping"}])
        assert completion.model == "t/fast-model"
        assert completion.choices[0].message.content == "echo: ping"
        chunks = list(client.chat.completions.create(model="fast", stream=True,
                                                     messages=[{"role": "user", "content": "a b c"}]))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b c"
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_bad_config_is_listed_exit_1_and_nothing_is_served(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("providers:\n  t: {kind: nope}\nmodels:\n  - {role: fast, ref: t, model: m}\n"
                      "gateway:\n  max_messages: 0\n  colour: blue\n", encoding="utf-8")
    port = _free_port()
    out = subprocess.run([sys.executable, "-m", "tierflow.cli", "serve", "--config", str(config), "--port", str(port)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "bad.yaml:2: providers.t.kind" in out.stderr
    assert "bad.yaml:6: gateway.max_messages" in out.stderr and "bad.yaml:7: gateway.colour: unknown key" in out.stderr
    assert "nothing is served" in out.stderr and "Traceback" not in out.stderr
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_missing_key_of_a_role_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "tierflow.yaml"
    config.write_text("models:\n  - {role: fast, ref: openai, model: gpt-4o-mini}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    out = subprocess.run([sys.executable, "-m", "tierflow.cli", "serve", "--config", str(config), "--port", "0"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1
    assert "OPENAI_API_KEY is not set" in out.stderr


def test_a_port_in_use_is_an_error_not_a_traceback(tmp_path: Path, upstream: LLMTestServer) -> None:
    config = tmp_path / "tierflow.yaml"
    config.write_text(CONFIG.format(base=upstream.base_url), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "tierflow.cli", "serve", "--config", str(config),
                          "--port", str(upstream.port)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{upstream.port}" in out.stderr and "Traceback" not in out.stderr


def _smollm_installed() -> bool:
    from tierflow.local_models import installed_models
    return "smollm2-135m-instruct" in {m.name for m in installed_models()}


@pytest.mark.local_model
@pytest.mark.skipif(not _smollm_installed(), reason="run `tierflow models pull smollm2-135m-instruct` first")
def test_serve_answers_on_the_local_models(tmp_path: Path) -> None:
    """The README's gateway example: no config, the embedded local ladder, the OpenAI SDK."""
    from tierflow.config import default_config_text

    config = tmp_path / "local.yaml"  # the embedded ladder, with the ledger kept out of $TIERFLOW_HOME
    config.write_text(default_config_text() + "gateway:\n  database: gw.sqlite\n", encoding="utf-8")
    proc, url = start_serve("--config", str(config))
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300)
        r = client.chat.completions.create(model="fast", max_tokens=8,
                                           messages=[{"role": "user", "content": "Say hi"}])
        assert r.model == "local/smollm2-135m-instruct"
        assert r.choices[0].message.content and r.usage is not None and r.usage.completion_tokens >= 1
        assert {m.id for m in client.models.list().data} == {"primary", "fast"}
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


# --- the ledger across crashes -----------------------------------------------------------------------


def _ledger_ids(db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [r[0] for r in conn.execute("SELECT request_id FROM requests")]
    finally:
        conn.close()


def _ask(url: str, n: int) -> list[str]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    try:
        return [client.chat.completions.with_raw_response.create(
            model="fast", messages=[{"role": "user", "content": f"q{i}"}]).headers["x-request-id"] for i in range(n)]
    finally:
        client.close()


def test_a_killed_gateway_loses_at_most_its_commit_window_and_a_clean_stop_loses_nothing(
        tmp_path: Path, upstream: LLMTestServer) -> None:
    import time

    db = tmp_path / "gw.sqlite"
    config = tmp_path / "tierflow.yaml"
    # a 60 s window: requests answered just before `kill -9` are still in it, so lost, and only those
    config.write_text(CONFIG.format(base=upstream.base_url) + "  commit_interval_s: 60\n", encoding="utf-8")
    proc, url = start_serve("--config", str(config))
    _ask(url, 3)
    proc.kill()
    proc.communicate(timeout=30)
    assert _ledger_ids(db) == []  # nothing half-written: the file is intact and holds no partial group

    # a 0.2 s window: rows older than the window are on disk when the process is killed
    config.write_text(CONFIG.format(base=upstream.base_url) + "  commit_interval_s: 0.2\n", encoding="utf-8")
    proc, url = start_serve("--config", str(config))
    early = _ask(url, 4)
    deadline = time.monotonic() + 20
    while set(early) - set(_ledger_ids(db)) and time.monotonic() < deadline:
        time.sleep(0.05)  # committed within one window (polled, not timed)
    late = _ask(url, 3)
    proc.kill()
    proc.communicate(timeout=30)
    on_disk = set(_ledger_ids(db))
    assert set(early) <= on_disk and on_disk <= set(early) | set(late)

    # a clean stop (SIGTERM) writes everything, whatever the window
    config.write_text(CONFIG.format(base=upstream.base_url) + "  commit_interval_s: 60\n", encoding="utf-8")
    proc, url = start_serve("--config", str(config))
    last = _ask(url, 3)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert set(last) <= set(_ledger_ids(db))


# --- keys --------------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierflow.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_keys_created_by_the_cli_work_in_a_running_gateway_and_revocation_is_immediate(
        tmp_path: Path, upstream: LLMTestServer) -> None:
    config = tmp_path / "tierflow.yaml"
    config.write_text(CONFIG.format(base=upstream.base_url), encoding="utf-8")
    created = _cli("keys", "create", "team-a", "--roles", "fast", "--usd-per-day", "5", "--config", str(config))
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.split()[1]
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("tf-")
    listed = _cli("keys", "list", "--config", str(config))
    assert key_id in listed.stdout and "active" in listed.stdout and "roles=fast" in listed.stdout
    assert secret not in listed.stdout and secret not in (tmp_path / "gw.sqlite").read_bytes().decode("latin-1")
    assert _cli("keys", "create", "x", "--roles", "nope", "--config", str(config)).returncode == 1
    proc, url = start_serve("--config", str(config))
    try:
        keyed = openai.OpenAI(base_url=url + "/v1", api_key=secret, max_retries=0)
        assert keyed.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}]).choices
        anonymous = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.AuthenticationError):  # a key exists: keys are required now
            anonymous.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
        revoked = _cli("keys", "revoke", key_id, "--config", str(config))
        assert revoked.returncode == 0 and f"revoked {key_id}" in revoked.stdout
        with pytest.raises(openai.AuthenticationError) as err:
            keyed.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
        assert err.value.body["code"] == "key_revoked"
        keyed.close()
        anonymous.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert _cli("keys", "revoke", "key-nope", "--config", str(config)).returncode == 1
    assert "revoked" in _cli("keys", "list", "--config", str(config)).stdout


def test_beyond_loopback_the_gateway_will_not_start_without_any_key(tmp_path: Path, upstream: LLMTestServer) -> None:
    config = tmp_path / "tierflow.yaml"
    config.write_text(CONFIG.format(base=upstream.base_url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TIERFLOW_ADMIN_KEY"}
    out = subprocess.run([sys.executable, "-m", "tierflow.cli", "serve", "--config", str(config), "--host", "0.0.0.0",
                          "--port", "0"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1
    assert "beyond loopback every request needs a key" in out.stderr and "nothing is served" in out.stderr
