"""The console's test harness: ``tierflow serve`` started for real, and Debian's Chromium driven by Playwright.

``console`` starts ``tierflow serve --port 0`` in a folder holding a gateway config and a flow
file (the admin key set); ``page`` is a signed-in browser page on it, with both files put back as
they were before each test. Browser tests are marked ``browser``; without Chromium or Playwright
they skip, which fails the run under ``CI=true`` (scripts/bootstrap.sh installs both).
Screenshots go to each test's ``tmp_path``; ``TIERFLOW_SCREENSHOTS=1`` also copies them to docs/img.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tierflow

ADMIN_KEY = "console-admin-key-0123456789"
UPSTREAM_SECRET = "sk-upstream-literal-secret-42"
GATEWAY_YAML = f"""\
# The gateway's config (a comment the console must keep)
providers:
  t: {{kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: {UPSTREAM_SECRET}}}  # upstream
models:
  - {{role: primary, ref: t, model: strong-model}}   # the strong one
  - {{role: fast, ref: t, model: fast-model}}
reliability: {{max_retries: 0}}
gateway:
  database: gateway.sqlite
  store_content: true
"""
NEW_FLOW = """\
{
  "schema_version": 1,
  "config": {
    "core_identity": {
      "name": "Customer Support",
      "models": [
        {"role": "primary", "ref": "local", "model": "qwen2.5-coder-1.5b-instruct"}
      ]
    }
  },
  "variables": {"message": {"type": "string"}},
  "nodes": [
    {"id": "start", "kind": "entry", "position": {"x": 0, "y": 100}},
    {"id": "classify_prompt", "kind": "prompt", "label": "Classifier prompt", "position": {"x": 180, "y": 0},
     "config": {"user": "Classify: {message}"}, "inputs": {"message": {"ref": "input.message"}}},
    {"id": "classify", "kind": "llm", "label": "Classifier", "position": {"x": 360, "y": 0}},
    {"id": "respond_prompt", "kind": "prompt", "label": "Responder prompt", "position": {"x": 540, "y": 100},
     "config": {"user": "Intent {intent}. Answer: {message}"},
     "inputs": {"message": {"ref": "input.message"}, "intent": {"ref": "classify.content"}}},
    {"id": "respond", "kind": "llm", "label": "Responder", "position": {"x": 720, "y": 100},
     "outputs": {"content": "answer"}},
    {"id": "end", "kind": "exit", "position": {"x": 900, "y": 100}}
  ],
  "edges": [
    {"source": "start", "target": "classify_prompt"}, {"source": "classify_prompt", "target": "classify"},
    {"source": "classify", "target": "respond_prompt"}, {"source": "respond_prompt", "target": "respond"},
    {"source": "respond", "target": "end"}
  ]
}
"""
"""Seed 000's starting point: one registry row (primary), a classifier and a responder with no role."""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def add_requests(database: Path, rows: list[dict[str, Any]]) -> None:
    """Append requests to a gateway database as the ledger writes them (unset columns NULL)."""
    from tierflow.gateway.ledger import connect

    columns = ("request_id", "ts", "key_id", "client_request_id", "user", "requested", "role", "model", "provider",
               "stream", "status", "outcome", "error_code", "input_tokens", "output_tokens", "cached_tokens",
               "reasoning_tokens", "cost_usd", "latency_ms", "ttft_ms", "attempts", "decision", "variant", "messages",
               "answer", "charged_usd")
    defaults = {"stream": 0, "status": 200, "outcome": "ok", "latency_ms": 100.0, "attempts": 1}
    conn = connect(database)
    try:
        conn.executemany(f"INSERT INTO requests VALUES ({', '.join('?' * len(columns))})",
                         [tuple({**defaults, **r}.get(c) for c in columns) for r in rows])
    finally:
        conn.close()


ROUTED_YAML = GATEWAY_YAML.replace(
    "reliability:", "  - {role: auto, router: routers/auto.json, candidates: [fast, primary], "
                    "models: {cheap: fast, strong: primary}}\nreliability:")
"""The gateway's config with a routed role ``auto`` over ``fast`` and ``primary`` (see :func:`write_router`)."""


_TOPICS = [("sum", "What is {a} plus {b}?", 0.92), ("fact", "Name the capital of country number {a}.", 0.8),
           ("code", "Write a Python function that returns the {a}th prime after {b}.", 0.45),
           ("poem", "Write a sonnet about the sea, in the style of poet {a}.", 0.2)]


def write_router(folder: Path) -> Path:
    """Fit a router on a realistic outcome table and save it as ``folder/routers/auto.json``, as ``tierflow
    route fit`` does: 96 prompts of four topics, graded qualities with noise (the cheap model good at sums
    and facts, poor at code and poems; the strong one about 0.9 everywhere), costs from the prompt's length,
    calibrated to 90% of the strong model's quality (which a mix of two settings reaches)."""
    import numpy as np

    from tierflow.routing.data.outcomes import OutcomeTable
    from tierflow.routing.fit.train import fit_router
    from tierflow.routing.io import save_router
    from tierflow.routing.targets import CalibrationTarget

    rng = np.random.default_rng(7)
    prompts, tasks, scores, costs = [], [], [], []
    for i in range(96):
        task, template, cheap_quality = _TOPICS[i % 4]
        prompt = template.format(a=int(rng.integers(2, 90)), b=int(rng.integers(2, 90)))
        prompts.append(prompt)
        tasks.append(task)
        scores.append([float(np.clip(rng.normal(cheap_quality, 0.15), 0, 1)), float(np.clip(rng.normal(0.9, 0.08), 0, 1))])
        costs.append([2e-6 * (len(prompt) + 200), 6e-5 * (len(prompt) + 300)])
    table = OutcomeTable([f"p{i}" for i in range(96)], prompts, tasks, ["cheap", "strong"], np.array(scores),
                         np.array(costs))
    router = fit_router(table, "knn", embedder="hashing", target=CalibrationTarget(quality=0.9), strict_target=True)
    return save_router(router, folder / "routers" / "auto.json")


def flow_json(repo_root: Path) -> str:
    return (repo_root / "examples" / "customer-support" / "flow.json").read_text(encoding="utf-8")


@dataclass
class ServeProcess:
    """A running ``tierflow serve``: its address, folder and what it printed."""

    proc: subprocess.Popen[str]
    base_url: str
    folder: Path
    lines: list[str] = field(default_factory=list)
    originals: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        """Both files as they were, and an empty ledger."""
        from tierflow.gateway.ledger import connect

        for name, text in self.originals.items():
            (self.folder / name).write_text(text, encoding="utf-8")
        conn = connect(self.folder / "gateway.sqlite")
        try:
            conn.execute("DELETE FROM attempts")
            conn.execute("DELETE FROM requests")
            conn.execute("DROP TABLE IF EXISTS console_cost_hourly")  # the cost view's roll-ups
            conn.execute("DROP TABLE IF EXISTS console_cost_state")
        finally:
            conn.close()


def start_serve(folder: Path, env_extra: dict[str, str], config: str = "gateway.yaml") -> ServeProcess:
    """``tierflow serve --config <config> --port 0`` in ``folder``; returns once it listens."""
    env = {k: v for k, v in os.environ.items() if k != "TIERFLOW_ADMIN_KEY"}
    env.update(env_extra)
    env["PYTHONPATH"] = str(Path(tierflow.__file__).parent.parent)
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "tierflow.cli", "serve", "--config", config, "--port", "0"],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        match = re.search(r"listening on (http://\S+) ", line)
        if match:
            return ServeProcess(proc, match.group(1), folder, lines)
    proc.kill()
    raise AssertionError("tierflow serve did not start:\n" + "\n".join(lines))


def stop_serve(server: ServeProcess) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("console")
    originals = {"gateway.yaml": GATEWAY_YAML, "support.json": flow_json(repo_root), "new-flow.json": NEW_FLOW}
    for name, text in originals.items():
        (folder / name).write_text(text, encoding="utf-8")
    server = start_serve(folder, {"TIERFLOW_ADMIN_KEY": ADMIN_KEY})
    server.originals = originals
    yield server
    stop_serve(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module (Playwright's sync API holds the thread's event loop while it
    runs, so it must be closed before the next module's asyncio tests: keep those in other modules)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/bootstrap.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(page: Any, base_url: str, secret: str) -> None:
    page.goto(base_url + "/ui")
    page.fill("#secret", secret)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/ui")


@pytest.fixture
def signed_in(browser: Any) -> Iterator[Callable[[ServeProcess], Any]]:
    """A factory: ``signed_in(server)`` is a new page signed in to ``server``'s console (1400x1000); errors in
    any of its pages fail the test, and every context is closed after it."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(server: ServeProcess) -> Any:
        # bypass_csp: Playwright's waits evaluate strings, which the console's CSP forbids; the page must be
        # safe without that CSP too (the XSS tests prove it), so the tests run without it
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(pg, server.base_url, ADMIN_KEY)
        return pg

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def page(signed_in: Callable[[ServeProcess], Any], console: ServeProcess) -> Any:
    """A signed-in page on the console's editor, both files as they were; browser errors fail the test."""
    console.reset()
    return signed_in(console)


def screenshot(page: Any, name: str, tmp_path: Path, repo_root: Path) -> Path:
    """Take the picture ``name`` (e.g. ``console-cost.png``) into ``tmp_path``, check it is a PNG of a
    plausible size, and copy it to ``docs/img`` only when ``TIERFLOW_SCREENSHOTS=1`` (no churn otherwise)."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800 and height >= 300 and len(data) > 10_000, f"{name}: {width}x{height}, {len(data)} bytes"
    if os.environ.get("TIERFLOW_SCREENSHOTS") == "1":
        images = repo_root / "docs" / "img"
        images.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, images / name)
    return shot


def open_file(page: Any, base_url: str, name: str) -> None:
    """Open ``name`` in the editor and wait for its first check."""
    page.goto(f"{base_url}/ui?file={name}")
    page.wait_for_function("document.body.dataset.catalog === 'loaded'", timeout=60_000)
    wait_checked(page)


def wait_checked(page: Any) -> None:
    """Wait until the server's answer to the latest edit is shown."""
    page.wait_for_function("document.body.dataset.pending === '0'")
