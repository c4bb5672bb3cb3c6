"""Sign-in, the session cookie, CSRF and secrets, over HTTP against an in-process gateway (no browser)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tierflow.console import console_mount
from tierflow.gateway import Gateway, GatewayServer
from tierflow.gateway.settings import load_gateway_config

from .conftest import ADMIN_KEY, GATEWAY_YAML, UPSTREAM_SECRET

Start = Callable[..., Any]


@pytest.fixture
async def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """Start gateways on the test config in ``tmp_path`` (the console's folder)."""
    (tmp_path / "gateway.yaml").write_text(GATEWAY_YAML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    servers: list[GatewayServer] = []

    async def run(**options: Any) -> GatewayServer:
        project, settings = load_gateway_config(tmp_path / "gateway.yaml")
        srv = GatewayServer(Gateway(project, settings, **options), port=0, mounts=[console_mount()])
        await srv.start()
        servers.append(srv)
        return srv

    yield run
    for srv in servers:
        await srv.close()


def _http() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # keeps cookies of 127.0.0.1


async def _sign_in(http: aiohttp.ClientSession, srv: GatewayServer, secret: str) -> aiohttp.ClientResponse:
    return await http.post(srv.base_url + "/ui/login", data={"secret": secret}, allow_redirects=False)


def _token(out: str) -> str:
    match = re.search(r"one-time login token: (\S+)", out)
    assert match, out
    return match.group(1)


async def test_the_editor_needs_a_session(start: Start) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    async with _http() as http:
        r = await http.get(srv.base_url + "/ui", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/ui/login"
        r = await http.get(srv.base_url + "/ui/api/files")
        assert r.status == 401 and (await r.json())["error"]["code"] == "not_signed_in"


async def test_the_login_token_is_printed_and_works_once(start: Start, capsys: pytest.CaptureFixture[str]) -> None:
    srv = await start()  # loopback, no admin key
    token = _token(capsys.readouterr().err)
    async with _http() as http:
        r = await _sign_in(http, srv, token)
        assert r.status == 303 and r.headers["Location"] == "/ui"
        assert (await http.get(srv.base_url + "/ui/api/files")).status == 200
    async with _http() as other:
        r = await _sign_in(other, srv, token)
        assert r.headers["Location"] == "/ui/login?failed=invalid_login"
        assert (await other.get(srv.base_url + "/ui/api/files")).status == 401


async def test_the_sign_in_page_learns_what_became_of_the_token(start: Start,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    srv = await start()  # loopback, no admin key
    token = _token(capsys.readouterr().err)
    async with _http() as http:
        state = srv.base_url + "/ui/login/state"  # no session needed: it is the sign-in page's
        assert await (await http.get(state)).json() == {"token": "unused"}
        await _sign_in(http, srv, token)
        session = await (await http.get(srv.base_url + "/ui/api/session")).json()
        assert session["one_time"] is True and session["csrf"]  # the page asks before signing out
        assert await (await http.get(state)).json() == {"token": "used"}
    locked = await start()
    async with _http() as http:
        for _ in range(21):
            await _sign_in(http, locked, "a guess")
        assert await (await http.get(locked.base_url + "/ui/login/state")).json() == {"token": "locked"}
    admin = await start(admin_key=ADMIN_KEY)
    async with _http() as http:
        assert await (await http.get(admin.base_url + "/ui/login/state")).json() == {"token": "none"}
        await _sign_in(http, admin, ADMIN_KEY)
        assert (await (await http.get(admin.base_url + "/ui/api/session")).json())["one_time"] is False


async def test_no_login_token_when_an_admin_key_is_set(start: Start, capsys: pytest.CaptureFixture[str]) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    out = capsys.readouterr().err
    assert "login token" not in out and "sign in with the admin key" in out
    async with _http() as http:
        assert (await _sign_in(http, srv, "wrong")).headers["Location"] == "/ui/login?failed=invalid_login"
        assert (await _sign_in(http, srv, ADMIN_KEY)).headers["Location"] == "/ui"


async def test_the_console_is_off_beyond_loopback_without_an_admin_key(start: Start) -> None:
    srv = await start(require_auth=True)
    async with _http() as http:
        r = await _sign_in(http, srv, "anything")
        assert r.headers["Location"] == "/ui/login?failed=console_disabled"


async def test_the_session_cookie_is_httponly_and_samesite_strict(start: Start) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    async with _http() as http:
        r = await _sign_in(http, srv, ADMIN_KEY)
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
        assert ADMIN_KEY not in cookie


async def test_writes_need_the_csrf_token_and_the_same_origin(start: Start) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    body = {"path": "gateway.yaml", "models": [{"role": "primary", "ref": "t", "model": "m"}]}
    async with _http() as http:
        await _sign_in(http, srv, ADMIN_KEY)
        csrf = (await (await http.get(srv.base_url + "/ui/api/session")).json())["csrf"]
        r = await http.post(srv.base_url + "/ui/api/check", json=body)
        assert r.status == 403 and (await r.json())["error"]["code"] == "csrf_failed"
        r = await http.post(srv.base_url + "/ui/api/check", json=body, headers={"X-CSRF-Token": "nope"})
        assert r.status == 403
        r = await http.post(srv.base_url + "/ui/api/check", json=body,
                            headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_origin"
        r = await http.post(srv.base_url + "/ui/api/check", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status == 200 and (await r.json())["ok"] is True


async def test_the_gateway_api_still_needs_its_keys(start: Start) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    async with _http() as http:
        await _sign_in(http, srv, ADMIN_KEY)  # a console session is no API key
        r = await http.get(srv.base_url + "/v1/models")
        assert r.status == 401
        r = await http.get(srv.base_url + "/admin/keys")
        assert r.status == 401


async def test_no_secret_reaches_the_page(start: Start) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    async with _http() as http:
        await _sign_in(http, srv, ADMIN_KEY)
        csrf = (await (await http.get(srv.base_url + "/ui/api/session")).json())["csrf"]
        bodies = [await (await http.get(srv.base_url + path)).text()
                  for path in ("/ui", "/ui/static/console.js", "/ui/api/files", "/ui/api/file?path=gateway.yaml")]
        body = {"path": "gateway.yaml", "models": [{"role": "primary", "ref": "t", "model": "m"}]}
        bodies.append(await (await http.post(srv.base_url + "/ui/api/check", json=body,
                                             headers={"X-CSRF-Token": csrf})).text())
    for text in bodies:
        assert UPSTREAM_SECRET not in text and ADMIN_KEY not in text
    assert "strong-model" in bodies[3]  # the registry is there, the provider settings are not


async def test_only_listed_files_open(start: Start, tmp_path: Path) -> None:
    srv = await start(admin_key=ADMIN_KEY)
    async with _http() as http:
        await _sign_in(http, srv, ADMIN_KEY)
        for path in ("../etc/passwd", "/etc/passwd", str(tmp_path / "gateway.yaml")):
            r = await http.get(srv.base_url + "/ui/api/file", params={"path": path})
            assert r.status == 404 and (await r.json())["error"]["code"] == "file_not_found"
