"""The runs, cost and keys views in a real browser; a prompt carrying script stays text; the README's screenshots
(into tmp_path; copied to docs/img with TIERFLOW_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import ADMIN_KEY, ServeProcess, add_requests, open_file, screenshot, wait_checked

pytestmark = pytest.mark.browser
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def _chat(console: ServeProcess, content: str) -> int:
    body = json.dumps({"model": "fast", "messages": [{"role": "user", "content": content}]}).encode()
    request = urllib.request.Request(console.base_url + "/v1/chat/completions", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_prompt_carrying_script_is_shown_as_text(page: Any, console: ServeProcess) -> None:
    assert _chat(console, XSS) == 502  # the upstream is down: the request is in the ledger all the same
    page.goto(console.base_url + "/ui?view=runs")
    deadline = time.monotonic() + 10
    while page.locator("#runs-table tbody tr[data-request]").count() == 0 and time.monotonic() < deadline:
        page.click("#runs-filters button[type=submit]")  # the ledger commits within commit_interval_s
        page.wait_for_timeout(200)
    row = page.locator("#runs-table tbody tr[data-request]").first
    assert "fast" in row.text_content() and "502" in row.text_content()
    row.locator("button").click()
    page.wait_for_selector("#run-detail:not([hidden])")
    assert page.text_content("#run-messages .message") == "user" + XSS
    assert page.locator("#run-messages img, #run-messages script").count() == 0
    assert page.evaluate("window.__xss") is None
    assert "t/fast-model" in page.text_content("#run-attempts")


def test_runs_are_paged_and_filtered(page: Any, console: ServeProcess) -> None:
    now = time.time()
    add_requests(console.folder / "gateway.sqlite", [
        {"request_id": f"page-{i:03d}", "ts": now - 3600 - i, "role": "strong" if i % 2 else "fast",
         "model": "t/strong-model", "cost_usd": 0.01} for i in range(120)])
    page.goto(console.base_url + "/ui?view=runs")
    page.wait_for_function("Number(document.body.dataset.runs) >= 50")
    first = page.locator("#runs-table tbody tr").count()
    page.click("#runs-next")
    page.wait_for_function(f"Number(document.body.dataset.runs) > {first}")
    ids = page.eval_on_selector_all("#runs-table tbody tr", "rs => rs.map(r => r.dataset.request)")
    assert len(ids) == len(set(ids)) == 100
    page.fill("#runs-role", "strong")
    page.click("#runs-filters button[type=submit]")
    page.wait_for_function("document.querySelector('#runs-table tbody tr td:nth-child(2)')?.textContent === 'strong'")
    roles = page.eval_on_selector_all("#runs-table tbody tr td:nth-child(2)", "ts => ts.map(t => t.textContent)")
    assert set(roles) == {"strong"}


def test_the_runs_key_filter_takes_a_key_name_too(page: Any, console: ServeProcess) -> None:
    page.goto(console.base_url + "/ui?view=keys")
    page.fill("#key-name", "runs filter bot")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-created:not([hidden])")
    key_id = page.locator("#keys-table tbody tr", has_text="runs filter bot").get_attribute("data-key")
    assert key_id and key_id.startswith("key-")
    now = time.time()
    add_requests(console.folder / "gateway.sqlite", [
        {"request_id": f"named-{i}", "ts": now - 7200 - i, "role": "fast", "key_id": key_id if i % 2 else "key-other"}
        for i in range(6)])
    page.goto(console.base_url + "/ui?view=runs")
    for ref in ("runs filter bot", key_id):  # the name, resolved on the server, and the id, as before
        page.fill("#runs-key", ref)
        page.evaluate("delete document.body.dataset.runs")  # set again once this filter's page is shown
        page.click("#runs-filters button[type=submit]")
        page.wait_for_function("document.body.dataset.runs !== undefined")
        shown = page.eval_on_selector_all("#runs-table tbody tr[data-request]", "rs => rs.map(r => r.dataset.request)")
        assert sorted(shown) == ["named-1", "named-3", "named-5"], ref
    page.fill("#runs-key", "nobody by this name")
    page.evaluate("delete document.body.dataset.runs")
    page.click("#runs-filters button[type=submit]")
    page.wait_for_function("document.body.dataset.runs === '0'")
    assert page.text_content("#runs-table tbody tr.empty") == \
        "No requests: no key has the id or name 'nobody by this name' (the Keys view lists them)."


def test_keys_are_created_listed_and_revoked(page: Any, console: ServeProcess) -> None:
    page.goto(console.base_url + "/ui?view=keys")
    page.fill("#key-name", "ci <b>bot</b>")
    page.fill("#key-roles", "fast")
    page.fill("#key-day", "2.5")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-created:not([hidden])")
    secret = page.locator("#key-secret").input_value()
    assert secret.startswith("tf-")
    row = page.locator("#keys-table tbody tr", has_text="ci <b>bot</b>")
    assert "usd/day=2.5" in row.text_content() and "active" in row.text_content()
    assert secret not in page.content().replace(f'value="{secret}"', "")  # only in the one-time box
    page.once("dialog", lambda dialog: dialog.accept())  # "Revoke the key ...?"
    row.get_by_role("button", name="Revoke ci <b>bot</b>").click()
    page.wait_for_function("[...document.querySelectorAll('#keys-table tbody tr')].some(r => "
                           "r.textContent.includes('revoked'))")
    page.fill("#key-name", "x")
    page.fill("#key-roles", "nope")
    page.click("#key-form button[type=submit]")
    page.wait_for_function("document.getElementById('key-error').textContent !== ''")
    assert "unknown role(s) ['nope']" in page.text_content("#key-error")


def test_screenshots_of_the_editor_and_the_cost_view(page: Any, console: ServeProcess, repo_root: Path,
                                                     tmp_path: Path) -> None:
    """The README's pictures: taken into tmp_path on every run, copied to docs/img with TIERFLOW_SCREENSHOTS=1."""
    now = time.time()
    day = 86400
    add_requests(console.folder / "gateway.sqlite", [
        {"request_id": f"shot-{d}-{i}", "ts": now - d * day - i * 60, "role": role, "model": model,
         "cost_usd": cost * (1 + (d % 3) / 2), "input_tokens": 400, "output_tokens": 120}
        for d in range(6) for i, (role, model, cost) in enumerate(
            [("primary", "t/strong-model", 0.012), ("fast", "t/fast-model", 0.0008), ("fast", "t/fast-model", 0.0009),
             ("critic", "t/backup-model", 0.003)])])
    open_file(page, console.base_url, "support.json")
    page.click("#m1-advanced summary")
    page.click("#m1-add-fallback")
    page.select_option("#m1-fb0-model", "local/qwen2.5-coder-0.5b-instruct")
    page.click("#graph-respond")  # its details below the drawing
    wait_checked(page)
    screenshot(page, "console-editor.png", tmp_path, repo_root)
    page.goto(console.base_url + "/ui?view=cost")
    page.wait_for_function("Number(document.body.dataset.cost) > 0")
    assert page.locator("#cost-chart rect").count() > 4
    screenshot(page, "console-cost.png", tmp_path, repo_root)
