"""What a first-time user tripped over (docs/console.md): times in UTC whatever the browser's zone, key limits
read whole, a failed request's detail, unsaved edits kept from a file switch, and Sign out."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from .conftest import ADMIN_KEY, ServeProcess, add_requests, open_file, sign_in, wait_checked

pytestmark = pytest.mark.browser


def test_since_and_until_are_read_in_utc_like_the_table(browser: Any, console: ServeProcess) -> None:
    """In New York, a time copied from the Time (UTC) column into Since or Until filters at that time."""
    console.reset()
    now = time.time()
    add_requests(console.folder / "gateway.sqlite", [
        {"request_id": f"tz-{i}", "ts": now - 3 * 3600 * i, "role": "fast", "model": "t/fast-model"} for i in range(3)])
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True,
                                  timezone_id="America/New_York")
    try:
        page = context.new_page()
        sign_in(page, console.base_url, ADMIN_KEY)
        page.goto(console.base_url + "/ui?view=runs")
        page.wait_for_function("Number(document.body.dataset.runs) === 3")
        assert page.text_content("#runs-table th") == "Time (UTC)"
        middle = datetime.fromtimestamp(now - 3 * 3600, UTC).strftime("%Y-%m-%d %H:%M")
        assert page.locator("#runs-table tbody tr").nth(1).locator("td").first.text_content().startswith(middle)
        page.fill("#runs-since", middle.replace(" ", "T"))
        page.click("#runs-filters button[type=submit]")
        page.wait_for_function("Number(document.body.dataset.runs) === 2")  # the newest two; 5 hours off: none
        page.fill("#runs-since", "")
        page.fill("#runs-until", middle.replace(" ", "T"))
        page.click("#runs-filters button[type=submit]")
        page.wait_for_function("Number(document.body.dataset.runs) === 1")
        assert page.locator("#runs-table tbody tr").first.get_attribute("data-request") == "tz-2"
    finally:
        context.close()


def test_key_limits_are_read_whole_not_cut_at_a_typo(page: Any, console: ServeProcess) -> None:
    page.goto(console.base_url + "/ui?view=keys")
    assert "every request to this gateway needs one" in page.text_content("#keys-hint")
    page.fill("#key-name", "ok-key")
    page.fill("#key-rpm", "60")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-created:not([hidden])")
    page.fill("#key-name", "typo-key")
    page.fill("#key-rpm", "6O")  # a letter O: not rpm=6
    page.click("#key-form button[type=submit]")
    page.wait_for_function("document.getElementById('key-error').textContent !== ''")
    assert page.text_content("#key-error") == "'rpm' must be an integer of at least 1"
    assert page.locator("#key-created").is_hidden()  # the earlier key's secret is not offered as this one's
    assert page.locator("#keys-table tbody tr", has_text="typo-key").count() == 0
    page.fill("#key-rpm", "1.5")
    page.click("#key-form button[type=submit]")
    page.wait_for_function("document.getElementById('key-error').textContent.includes('integer')")
    assert page.locator("#keys-table tbody tr", has_text="typo-key").count() == 0


def test_a_failed_requests_detail_is_rounded_and_says_it_has_no_answer(page: Any, console: ServeProcess) -> None:
    add_requests(console.folder / "gateway.sqlite", [
        {"request_id": "failed-1", "ts": time.time(), "role": "fast", "status": 502, "outcome": "error",
         "latency_ms": 1.8022730000666343, "messages": '[{"role": "user", "content": "hi"}]'}])
    page.goto(console.base_url + "/ui?view=runs")
    page.wait_for_function("Number(document.body.dataset.runs) === 1")
    page.locator("#runs-table tbody tr").first.locator("button").click()
    page.wait_for_selector("#run-detail:not([hidden])")
    fields = page.text_content("#run-fields") or ""
    assert "latency_ms1.8" in fields and "1.802273" not in fields
    assert page.text_content("#run-fields dt:text-is('ts') + dd").endswith(" UTC")
    assert page.text_content("#run-answer") == "(none: the request failed)"


def test_unsaved_edits_are_not_dropped_by_opening_another_file(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "gateway.yaml")
    page.fill("#m1-model-text", "edited-model")
    wait_checked(page)
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.select_option("#file-select", "support.json")
    page.wait_for_timeout(300)
    assert asked == ["Discard your unsaved edits to gateway.yaml?"]
    assert page.input_value("#file-select") == "gateway.yaml"
    assert page.input_value("#m1-model-text") == "edited-model"
    page.once("dialog", lambda dialog: dialog.accept())
    page.select_option("#file-select", "support.json")
    page.wait_for_function("document.body.dataset.kind === 'flow'")
    assert page.input_value("#file-select") == "support.json"
    page.select_option("#file-select", "gateway.yaml")  # nothing edited: no question
    page.wait_for_function("document.body.dataset.kind === 'gateway'")
    assert page.input_value("#m1-model-text") == "fast-model"  # the edit was discarded, as asked


def test_sign_out_signs_out(page: Any, console: ServeProcess) -> None:
    """The header's Sign out ends the session and lands on the sign-in page (not on a CSRF error)."""
    page.goto(console.base_url + "/ui?view=keys")
    page.wait_for_selector("#keys-table")
    page.click("#logout-form button")
    page.wait_for_url(console.base_url + "/ui/login")
    page.goto(console.base_url + "/ui")
    assert page.url == console.base_url + "/ui/login"  # the session is gone, not only the page left
    status = page.evaluate("fetch('/ui/api/files').then(r => r.status)")
    assert status == 401


def test_the_ir_preview_says_why_it_is_empty(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")
    assert page.text_content("#ir-preview").startswith("{")
    page.click("#m1-delete")  # 'fast' goes; the classifier still names it
    wait_checked(page)
    assert "'fast' is not declared" in page.text_content("#problems")
    assert page.text_content("#ir-preview") == "(none until the problems listed under Problems are fixed)"


def test_the_cost_charts_scale_shows_the_tallest_bar_not_a_rounded_figure(page: Any, console: ServeProcess) -> None:
    add_requests(console.folder / "gateway.sqlite", [
        {"request_id": f"cheap-{i}", "ts": time.time() - i, "role": "fast", "model": "t/fast-model",
         "cost_usd": 0.000017} for i in range(4)])
    page.goto(console.base_url + "/ui?view=cost")
    page.wait_for_function("Number(document.body.dataset.cost) > 0")
    assert page.text_content("#cost-chart .scale-top") == "$0.000068"


def test_an_empty_runs_table_says_why(page: Any, console: ServeProcess) -> None:
    page.goto(console.base_url + "/ui?view=runs")
    page.wait_for_selector("#runs-table tr.empty")
    assert page.text_content("#runs-table tr.empty") == "No requests yet: send one to this gateway's /v1 API."
    add_requests(console.folder / "gateway.sqlite", [{"request_id": "one", "ts": time.time(), "role": "fast",
                                                      "model": "t/fast-model", "key_id": "key-0123"}])
    page.fill("#runs-model", "fast-model")  # not provider/model
    page.click("#runs-filters button[type=submit]")
    page.wait_for_function("document.querySelector('#runs-table tr.empty')?.textContent.startsWith('No requests match')")
    assert page.get_attribute("#runs-model", "placeholder") == "provider/model"
    page.fill("#runs-model", "t/fast-model")
    page.click("#runs-filters button[type=submit]")
    page.wait_for_function("Number(document.body.dataset.runs) === 1")
    assert page.locator("#runs-table tr.empty").count() == 0


def test_a_rename_typed_over_an_erased_name_keeps_the_nodes_on_it(page: Any, console: ServeProcess) -> None:
    """Backspacing 'fast' away and typing 'triage' is a rename too: the classifier follows, not the default."""
    open_file(page, console.base_url, "support.json")
    assert page.locator("#node-classify-role").input_value() == "fast"
    page.focus("#m1-role")
    page.keyboard.press("End")
    for _ in "fast":
        page.keyboard.press("Backspace")
    assert page.input_value("#m1-role") == ""
    page.keyboard.type("triage")
    wait_checked(page)
    assert page.locator("#node-classify-role").input_value() == "triage"
    assert "No problems." in (page.text_content("#problems") or "")
    yaml = page.text_content("#yaml-preview") or ""
    assert "llm_role: triage" in yaml
    assert "- role: triage\n" in yaml  # the entry still leads with its role, not "- ref: ...\n  role: triage"


def test_revoking_a_key_asks_first(page: Any, console: ServeProcess) -> None:
    page.goto(console.base_url + "/ui?view=keys")
    page.fill("#key-name", "keep-me")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-created:not([hidden])")
    row = page.locator("#keys-table tbody tr", has_text="keep-me")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Revoke keep-me").click()
    page.wait_for_timeout(300)
    assert len(asked) == 1 and asked[0].startswith("Revoke the key keep-me (key-")
    page.evaluate("loadKeys()")
    page.wait_for_timeout(300)
    assert "active" in (row.text_content() or "")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke keep-me").click()
    page.wait_for_function("[...document.querySelectorAll('#keys-table tbody tr')].some(r => "
                           "r.textContent.includes('keep-me') && r.textContent.includes('revoked'))")


def test_the_routers_view_without_a_routed_role_says_how_one_is_served(page: Any, console: ServeProcess) -> None:
    page.goto(console.base_url + "/ui?view=routers")
    page.wait_for_function("document.getElementById('routers').textContent !== ''")
    text = page.text_content("#routers") or ""
    assert text.startswith("The served config has no routed role")
    assert "saved from the Registry view or tierflow serve restarts" in text
