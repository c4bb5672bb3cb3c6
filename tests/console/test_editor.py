"""The registry editor in a real browser: every behaviour of the registry editor in docs/console.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tierflow.errors import ConfigError
from tierflow.gateway.settings import load_gateway_config

from .conftest import ServeProcess, open_file, wait_checked

pytestmark = pytest.mark.browser


def _yaml(page: Any) -> str:
    return page.text_content("#yaml-preview") or ""


def _problems(page: Any) -> str:
    return page.text_content("#problems") or ""


def test_the_first_row_is_pinned_as_primary(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")
    role = page.locator("#m0-role")
    assert role.input_value() == "primary" and role.get_attribute("readonly") is not None
    role.press_sequentially("x")  # typing changes nothing
    assert role.input_value() == "primary"
    assert page.locator("#m0-delete").count() == 0 and page.locator("#m1-delete").count() == 1
    assert page.text_content("#m0-row .pin") == "pinned"


def test_add_model_adds_a_row_with_role_fast(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "new-flow.json")
    assert page.locator(".model-row").count() == 1
    page.click("#add-model")
    assert page.locator(".model-row").count() == 2
    assert page.locator("#m1-role").input_value() == "fast"
    assert page.evaluate("document.activeElement.id") == "m1-role"  # ready to rename
    page.click("#add-model")
    assert page.locator("#m2-role").input_value() == "fast_2"  # never a duplicate role


def test_advanced_fallback_chain_temperature_and_system_context(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "new-flow.json")
    page.click("#m0-advanced summary")
    page.click("#m0-add-fallback")
    page.select_option("#m0-fb0-mode", "custom")
    page.fill("#m0-fb0-ref", "openai")
    page.fill("#m0-fb0-model-text", "gpt-4-turbo")
    page.click("#m0-add-fallback")
    page.select_option("#m0-fb1-mode", "custom")
    page.fill("#m0-fb1-model-text", "qwen2.5-coder-0.5b-instruct")
    page.fill("#m0-temperature", "0.7")
    page.fill("#m0-system", "You answer customers.")
    wait_checked(page)
    assert "No problems." in _problems(page)
    meta = _yaml(page)
    assert "fallback:" in meta and "model: gpt-4-turbo" in meta and "ref: openai" in meta
    assert "model: qwen2.5-coder-0.5b-instruct" in meta and "temperature: 0.7" in meta
    assert "system_context: You answer customers." in meta
    ir = json.loads(page.text_content("#ir-preview"))
    assert ir["manifest"]["models"][0]["fallback"] == [
        {"provider": "openai", "model": "gpt-4-turbo"}, {"provider": "local", "model": "qwen2.5-coder-0.5b-instruct"}]
    page.click("#m0-fb0-remove")
    wait_checked(page)
    assert "gpt-4-turbo" not in _yaml(page)


def test_the_catalog_picker_is_grouped_by_prefix_with_name_and_context(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "new-flow.json")
    page.wait_for_selector("#m0-model optgroup[label='openai/']", state="attached")
    groups = page.eval_on_selector_all("#m0-model optgroup", "gs => gs.map(g => g.label)")
    assert "openai/" in groups and "anthropic/" in groups and all(g.endswith("/") for g in groups)
    texts = page.eval_on_selector_all("#m0-model optgroup[label='openai/'] option", "os => os.map(o => o.textContent)")
    assert any(" context" in t for t in texts)  # display name · context window
    page.select_option("#m0-model", "openai/gpt-4o")
    wait_checked(page)
    assert "ref: openai\n      model: gpt-4o\n" in _yaml(page)


def test_custom_keeps_the_values_when_switching(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "gateway.yaml")
    page.wait_for_selector("#m0-mode")
    # t/strong-model is in no catalog: the row opens in Custom mode, with the entry's own values
    assert page.locator("#m0-mode").input_value() == "custom"
    assert page.locator("#m0-ref").input_value() == "t" and page.locator("#m0-model-text").input_value() == "strong-model"
    before = _yaml(page)
    page.select_option("#m0-mode", "catalog")
    assert "t/strong-model (not in the catalog)" in page.locator("#m0-model option:checked").text_content()
    page.select_option("#m0-mode", "custom")
    assert page.locator("#m0-ref").input_value() == "t" and page.locator("#m0-model-text").input_value() == "strong-model"
    wait_checked(page)
    assert _yaml(page) == before  # looking at another picker rewrote nothing
    assert "# the strong one" in before  # the preview is the file's own models section, comments kept


def test_a_fallback_is_picked_from_the_catalog_like_a_model(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "new-flow.json")
    page.wait_for_selector("body[data-catalog='loaded']", state="attached")
    page.click("#m0-advanced summary")
    page.click("#m0-add-fallback")
    assert page.locator("#m0-fb0-mode").input_value() == "catalog"
    groups = page.eval_on_selector_all("#m0-fb0-model optgroup", "gs => gs.map(g => g.label)")
    assert "openai/" in groups and "anthropic/" in groups
    page.select_option("#m0-fb0-model", "openai/gpt-4o")
    wait_checked(page)
    assert "fallback:\n      - ref: openai\n        model: gpt-4o\n" in _yaml(page)
    page.select_option("#m0-fb0-mode", "custom")  # Custom keeps the picked values
    assert page.locator("#m0-fb0-ref").input_value() == "openai"
    assert page.locator("#m0-fb0-model-text").input_value() == "gpt-4o"


def test_a_legacy_fallback_opens_in_custom_and_is_not_rewritten_by_looking(page: Any, console: ServeProcess) -> None:
    path = console.folder / "new-flow.json"
    flow = json.loads(path.read_text())
    flow["config"]["core_identity"]["models"][0]["fallback"] = [{"ref": "legacy", "model": "old-model-1"}]
    path.write_text(json.dumps(flow))
    open_file(page, console.base_url, "new-flow.json")
    page.wait_for_selector("body[data-catalog='loaded']", state="attached")
    page.click("#m0-advanced summary")
    assert page.locator("#m0-fb0-mode").input_value() == "custom"
    assert page.locator("#m0-fb0-model-text").input_value() == "old-model-1"
    wait_checked(page)
    before = _yaml(page)
    page.select_option("#m0-fb0-mode", "catalog")
    assert "legacy/old-model-1 (not in the catalog)" in page.locator("#m0-fb0-model option:checked").text_content()
    page.select_option("#m0-fb0-mode", "custom")
    wait_checked(page)
    assert _yaml(page) == before and "model: old-model-1" in before


def test_node_dropdowns_follow_registry_edits_at_once(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")
    options = "s => Array.from(s.options).map(o => o.value)"
    assert page.eval_on_selector("#node-classify-role", options) == ["primary", "fast", "critic"]
    page.click("#add-model")
    page.fill("#m3-role", "voice")
    page.select_option("#m3-model", "openai/gpt-4o")
    assert page.eval_on_selector("#node-respond-role", options) == ["primary", "fast", "critic", "voice"]
    page.fill("#m1-role", "quick")  # a rename: the nodes on 'fast' follow
    assert page.eval_on_selector("#node-classify-role", options) == ["primary", "quick", "critic", "voice"]
    assert page.locator("#node-classify-role").input_value() == "quick"
    page.select_option("#node-respond-role", "voice")
    wait_checked(page)
    assert "No problems." in _problems(page)


def test_an_orphan_role_is_shown_as_an_error_pointing_to_the_models(page: Any, console: ServeProcess,
                                                                    tmp_path: Path) -> None:
    open_file(page, console.base_url, "support.json")
    page.click("#m2-delete")  # critic, which node 'critic' uses
    select = page.locator("#node-critic-role")
    assert "select-error" in (select.get_attribute("class") or "")
    assert select.input_value() == "critic" and select.get_attribute("aria-invalid") == "true"
    hint = page.locator("#node-critic .orphan-hint")
    assert "'critic' is not declared: declare it in Flow → Models" in hint.text_content()
    wait_checked(page)
    shown = _problems(page)
    # the compiler's own message, as `tierflow compile` prints it for the same file
    flow = json.loads((console.folder / "support.json").read_text())
    flow["config"]["core_identity"]["models"] = flow["config"]["core_identity"]["models"][:2]
    (tmp_path / "support.json").write_text(json.dumps(flow))
    cli = subprocess.run([sys.executable, "-m", "tierflow.cli", "compile", "support.json"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert cli.returncode == 1
    expected = ("node 'critic' (nodes[8]).config.llm_role: llm_role validation failed\n"
                "  node 'critic': llm_role='critic' is not declared in\n"
                "  flow.config.core_identity.models (declared: ['fast', 'primary'])\n"
                "  role 'critic' is not declared in the registry (models): declare it or pick one of: primary, fast")
    assert expected in cli.stderr and expected in shown
    assert expected in page.text_content("#node-critic")  # inline, at the node
    assert "node-error" in page.get_attribute("rect[data-node='critic']", "class")
    hint.locator("a").click()
    assert page.evaluate("document.activeElement.closest('#models-panel') !== null")


def test_validation_as_you_type_uses_the_loaders_messages(page: Any, console: ServeProcess, tmp_path: Path) -> None:
    open_file(page, console.base_url, "gateway.yaml")
    page.fill("#m1-role", "Fast")
    wait_checked(page)
    assert "row-error" in page.get_attribute("#m1-row", "class")
    bad = (console.folder / "gateway.yaml").read_text().replace("role: fast", "role: Fast")
    (tmp_path / "gateway.yaml").write_text(bad)
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(tmp_path / "gateway.yaml")  # what `tierflow serve` says of that file
    expected = [str(p).replace(str(tmp_path / "gateway.yaml"), "gateway.yaml") for p in caught.value.problems]
    assert expected and all(e in page.text_content("#m1-row") for e in expected)
    page.fill("#m1-role", "fast")
    wait_checked(page)
    assert "No problems." in _problems(page) and page.locator(".row-error").count() == 0


def test_the_ir_preview_is_the_compilers(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")
    cli = subprocess.run([sys.executable, "-m", "tierflow.cli", "compile", "support.json"], cwd=console.folder,
                         capture_output=True, text=True)
    assert cli.returncode == 0
    assert page.text_content("#ir-preview") == cli.stdout


def test_keyboard_only(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "new-flow.json")
    page.focus("#file-select")  # where Tab from the page's top lands first
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == "add-model":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "add-model"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "m1-role"
    page.keyboard.press("Control+a")
    page.keyboard.type("critic")
    page.keyboard.press("Tab")  # the picker mode
    page.keyboard.press("Tab")  # the catalog list
    assert page.evaluate("document.activeElement.id") == "m1-model"
    page.keyboard.press("ArrowDown")  # the first catalog model
    picked = page.locator("#m1-model").input_value()
    assert picked  # a select works from the keyboard
    page.keyboard.press("Shift+Tab")  # back to the picker mode: Custom, with the picked values kept
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "m1-mode"
    assert page.locator("#m1-model-text").input_value() == picked.split("/", 1)[1]
    page.keyboard.press("Tab")
    page.keyboard.press("Control+a")
    page.keyboard.type("local")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+a")
    page.keyboard.type("qwen2.5-coder-0.5b-instruct")
    chosen = "local/qwen2.5-coder-0.5b-instruct"
    page.keyboard.press("Tab")  # Delete
    page.keyboard.press("Tab")  # Advanced
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "m1-add-fallback"
    page.keyboard.press("Enter")  # a new fallback opens on the catalog list, as a new row does
    assert page.evaluate("document.activeElement.id") == "m1-fb0-model"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("ArrowDown")  # Custom
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "m1-fb0-model-text"
    page.keyboard.type("smollm2-135m-instruct")
    wait_checked(page)
    assert "No problems." in _problems(page)
    page.keyboard.press("Control+s")
    page.wait_for_function("document.getElementById('save-status').textContent !== ''")
    assert page.text_content("#save-status") == "Saved."
    saved = json.loads((console.folder / "new-flow.json").read_text())
    entry = saved["config"]["core_identity"]["models"][1]
    assert entry["role"] == "critic" and f"{entry['ref']}/{entry['model']}" == chosen
    assert entry["fallback"] == [{"ref": saved["config"]["core_identity"]["models"][0]["ref"],
                                  "model": "smollm2-135m-instruct"}]
