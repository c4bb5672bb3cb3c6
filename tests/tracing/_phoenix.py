"""A real Arize Phoenix on 127.0.0.1 for the end-to-end trace tests.

``scripts/phoenix_venv.sh`` installs it once in its own virtualenv under ``$TIERFLOW_HOME``;
:func:`start_phoenix` runs it on free ports with a fresh working folder and waits until it
answers. ``TIERFLOW_SKIP_PHOENIX=1`` skips these tests outside CI (never in CI).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def phoenix_python() -> str:
    """The Phoenix venv's python (installed on first use); skips only where allowed."""
    if os.environ.get("TIERFLOW_SKIP_PHOENIX") == "1" and os.environ.get("CI") != "true":
        pytest.skip("TIERFLOW_SKIP_PHOENIX=1")
    out = subprocess.run(["bash", str(REPO / "scripts" / "phoenix_venv.sh")], capture_output=True, text=True,
                         timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/phoenix_venv.sh failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Phoenix:
    base_url: str
    startup_s: float

    @property
    def traces_endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read())

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """Every span of ``project`` as Phoenix's REST API returns it."""
        spans: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.get(f"/v1/projects/{project}/spans?limit=1000{cursor}")
            spans += page.get("data", [])
            if not page.get("next_cursor"):
                return spans
            cursor = f"&cursor={page['next_cursor']}"

    def wait_for_spans(self, project: str, n: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout_s
        while True:
            try:
                spans = self.spans(project)
            except OSError:
                spans = []
            if len(spans) >= n or time.monotonic() > end:
                return spans
            time.sleep(0.2)


@contextmanager
def start_phoenix(python: str, workdir: Path) -> Iterator[Phoenix]:
    port, grpc = _free_port(), _free_port()
    env = {**os.environ, "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(grpc), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_WORKING_DIR": str(workdir), "PHOENIX_TELEMETRY_ENABLED": "false"}
    log = (workdir / "phoenix.log").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "-m", "phoenix.server.main", "serve"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"Phoenix exited ({proc.returncode}):\n"
                                   + (workdir / "phoenix.log").read_text()[-3000:])
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):  # noqa: S310 - loopback only
                    break
            except OSError:
                if time.perf_counter() - t0 > 180:
                    raise RuntimeError("Phoenix did not answer within 180 s") from None
                time.sleep(0.25)
        yield Phoenix(base, time.perf_counter() - t0)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
