"""``tierflow serve`` serves the console: the one-time login token it prints signs a real browser in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .conftest import GATEWAY_YAML, ServeProcess, flow_json, sign_in, start_serve, stop_serve

pytestmark = pytest.mark.browser


@contextmanager
def _token_serve(folder: Path, flow: str | None = None) -> Iterator[tuple[ServeProcess, str]]:
    """``tierflow serve`` on loopback with no admin key, in ``folder`` holding a gateway config (and
    ``flow`` as support.json): the running server and the one-time login token it printed."""
    (folder / "gateway.yaml").write_text(GATEWAY_YAML, encoding="utf-8")
    if flow is not None:
        (folder / "support.json").write_text(flow, encoding="utf-8")
    server = start_serve(folder, {})  # --port 0
    try:
        yield server, next(m.group(1) for line in server.lines if (m := re.search(r"one-time login token: (\S+)", line)))
    finally:
        stop_serve(server)


def test_the_printed_login_token_signs_a_browser_in_once(browser: Any, tmp_path: Path, repo_root: Path) -> None:
    with _token_serve(tmp_path, flow_json(repo_root)) as (server, token):
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.base_url + "/ui")
        assert page.url == server.base_url + "/ui/login"  # no session yet
        sign_in(page, server.base_url, token)
        page.wait_for_selector("#file-select option[value='support.json']", state="attached")
        assert page.locator("#file-select option").all_text_contents() == [
            "gateway.yaml (gateway config)", "support.json (flow)"]  # sorted, gateway first
        context.close()

        again = browser.new_context()
        page = again.new_page()
        page.goto(server.base_url + "/ui/login")
        page.fill("#secret", token)
        page.click("button[type=submit]")
        page.wait_for_selector("#login-error")
        assert "works once" in page.text_content("#login-error")
        assert "`" not in page.text_content("#login-error")  # plain text on a page, not Markdown
        assert page.url.endswith("/ui/login?failed=invalid_login")
        again.close()


def test_the_banner_gives_the_bound_url_and_a_link_that_signs_in(browser: Any, tmp_path: Path,
                                                                 repo_root: Path) -> None:
    with _token_serve(tmp_path) as (server, printed):  # --port 0: the banner must name the port picked
        line = next(line for line in server.lines if line.startswith("tierflow console at "))
        match = re.fullmatch(r"tierflow console at (\S+); one-time login token: (\S+) \(or open (\S+)\)", line)
        assert match, line
        url, token, link = match.groups()
        assert url == server.base_url + "/ui" and not server.base_url.endswith(":0")
        assert token == printed and link == f"{url}/login#token={token}"
        context = browser.new_context()
        page = context.new_page()
        page.goto(link)
        page.wait_for_url(server.base_url + "/ui")  # signed in on opening, as Jupyter's link does
        page.wait_for_selector("#file-select option[value='gateway.yaml']", state="attached")
        context.close()


def test_with_an_admin_key_the_banner_gives_the_bound_url(console: ServeProcess) -> None:
    assert f"tierflow console at {console.base_url}/ui; sign in with the admin key ($TIERFLOW_ADMIN_KEY)" in console.lines


def test_signing_out_of_a_one_time_token_session_asks_and_the_sign_in_page_says_why(
        browser: Any, tmp_path: Path) -> None:
    with _token_serve(tmp_path) as (server, token):
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.base_url + "/ui/login")
        page.wait_for_function("document.readyState === 'complete'")
        assert page.locator("#login-notice").is_hidden()  # the token is unused yet: nothing to say
        sign_in(page, server.base_url, token)
        page.wait_for_selector("#file-select option[value='gateway.yaml']", state="attached")
        asked: list[str] = []

        def answer(accept: bool) -> Any:
            def handle(dialog: Any) -> None:
                asked.append(dialog.message)
                dialog.accept() if accept else dialog.dismiss()
            return handle

        page.once("dialog", answer(False))
        page.click("#logout-form button")
        assert len(asked) == 1 and "one-time token" in asked[0] and "restarted" in asked[0]
        assert page.url == server.base_url + "/ui"  # still signed in
        page.once("dialog", answer(True))
        page.click("#logout-form button")
        page.wait_for_url(server.base_url + "/ui/login")
        page.wait_for_selector("#login-notice:not([hidden])")
        assert page.text_content("#login-notice") == (
            "The token printed at start has been used; restart tierflow serve for a new one, or set "
            "TIERFLOW_ADMIN_KEY.")
        context.close()
