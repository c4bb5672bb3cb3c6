"""Saving from the browser: atomic writes keeping comments, conflicts, and the gateway's reload."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN_KEY, NEW_FLOW, ServeProcess, open_file, wait_checked

pytestmark = pytest.mark.browser


def _save(page: Any) -> str:
    page.evaluate("document.getElementById('save-status').textContent = ''")
    page.click("#save")
    page.wait_for_function("document.getElementById('save-status').textContent !== ''")
    return page.text_content("#save-status") or ""


def _served_models(console: ServeProcess) -> dict[str, list[str]]:
    request = urllib.request.Request(console.base_url + "/v1/models", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return {m["id"]: m.get("targets") for m in json.load(r)["data"]}


def test_saving_the_gateway_config_keeps_comments_and_reloads_the_gateway(page: Any, console: ServeProcess) -> None:
    before = (console.folder / "gateway.yaml").read_text()
    assert _served_models(console)["fast"] == ["t/fast-model"]
    open_file(page, console.base_url, "gateway.yaml")
    page.fill("#m1-model-text", "faster-model")
    wait_checked(page)
    assert _save(page) == "Saved; the gateway now serves it."
    after = (console.folder / "gateway.yaml").read_text()
    assert after == before.replace("model: fast-model", "model: faster-model")  # comments, layout, all kept
    assert _served_models(console)["fast"] == ["t/faster-model"]
    page.fill("#m1-model-text", "fast-model")  # a second save: the page holds the saved version now
    wait_checked(page)
    assert _save(page) == "Saved; the gateway now serves it."
    assert (console.folder / "gateway.yaml").read_text() == before


def test_a_bad_gateway_config_is_refused_and_the_old_one_kept(page: Any, console: ServeProcess) -> None:
    before = (console.folder / "gateway.yaml").read_text()
    open_file(page, console.base_url, "gateway.yaml")
    page.fill("#m1-ref", "nope")
    wait_checked(page)
    assert "'nope'" in page.text_content("#m1-row")
    assert _save(page) == "Not saved: fix the problems first."
    assert (console.folder / "gateway.yaml").read_text() == before
    assert _served_models(console)["fast"] == ["t/fast-model"]


def test_a_file_changed_on_disk_is_not_overwritten(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")
    page.fill("#m1-role", "quick")
    path = console.folder / "support.json"
    theirs = path.read_text().replace('"name": "Customer Support"', '"name": "Support (edited elsewhere)"')
    path.write_text(theirs)
    assert _save(page) == "Not saved: the file changed on disk."
    assert path.read_text() == theirs
    page.wait_for_selector("#conflict", state="visible")
    diff = page.text_content("#conflict-diff")
    assert '-      "name": "Customer Support",' in diff and '+      "name": "Support (edited elsewhere)",' in diff
    page.click("#reload")
    wait_checked(page)
    page.wait_for_selector("#conflict", state="hidden")  # the reload hides it once the file is read again
    assert page.locator("#m1-role").input_value() == "fast"
    page.fill("#m1-role", "quick")
    wait_checked(page)
    assert _save(page) == "Saved."
    saved = json.loads(path.read_text())
    assert saved["config"]["core_identity"]["name"] == "Support (edited elsewhere)"
    assert saved["config"]["core_identity"]["models"][1]["role"] == "quick"
    assert next(n for n in saved["nodes"] if n["id"] == "classify")["config"]["llm_role"] == "quick"


def _compile(folder: Path, name: str) -> str:
    cli = subprocess.run([sys.executable, "-m", "tierflow.cli", "compile", name], cwd=folder, capture_output=True,
                         text=True)
    assert cli.returncode == 0, cli.stderr
    return cli.stdout


def test_the_seed_registry_built_in_the_browser_compiles_like_one_typed_by_hand(
        page: Any, console: ServeProcess, tmp_path: Path) -> None:
    open_file(page, console.base_url, "new-flow.json")
    page.select_option("#m0-model", "openai/gpt-4o")  # primary: a smart model from the catalog
    page.click("#add-model")  # a new row, role fast: a cheap model
    page.select_option("#m1-model", "openai/gpt-4o-mini")
    page.click("#m0-advanced summary")  # primary -> Advanced -> Fallback chain -> + add fallback
    page.click("#m0-add-fallback")
    page.select_option("#m0-fb0-model", "openai/gpt-4-turbo")  # a backup model, picked like a model
    page.select_option("#node-classify-role", "fast")
    page.select_option("#node-respond-role", "primary")
    wait_checked(page)
    assert "No problems." in page.text_content("#problems")
    assert "scaiflow_meta:" in page.text_content("#yaml-preview")
    assert _save(page) == "Saved."

    by_hand = json.loads(NEW_FLOW)
    by_hand["config"]["core_identity"]["models"] = [
        {"role": "primary", "ref": "openai", "model": "gpt-4o", "fallback": [{"ref": "openai", "model": "gpt-4-turbo"}]},
        {"role": "fast", "ref": "openai", "model": "gpt-4o-mini"}]
    for node in by_hand["nodes"]:
        if node["id"] in ("classify", "respond"):
            node["config"] = {"llm_role": "fast" if node["id"] == "classify" else "primary"}
    (tmp_path / "by-hand.json").write_text(json.dumps(by_hand, indent=2))
    assert _compile(console.folder, "new-flow.json") == _compile(tmp_path, "by-hand.json")
    assert page.text_content("#ir-preview") == _compile(console.folder, "new-flow.json")
