"""The console's HTTP routes under ``/ui`` (docs/console.md): pages, static files and the JSON API.

Pages: ``GET /ui`` (the editor; sign-in first), ``GET|POST /ui/login``, ``GET /ui/login/state`` (what the
sign-in page says of the one-time token), ``POST /ui/logout``.
API (signed in; writes need the CSRF token): ``GET /ui/api/session``, ``GET /ui/api/files``,
``GET /ui/api/file?path=``, ``POST /ui/api/check``, ``POST /ui/api/save``, ``GET /ui/api/catalog``.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from aiohttp import web

from tierflow.console.checks import check
from tierflow.console.files import Edit, Workspace, candidate_text, page_view, read_text
from tierflow.console.saving import remember, save
from tierflow.console.session import ConsoleAuth, check_origin, set_cookie
from tierflow.errors import GatewayError
from tierflow.gateway.core import KEY, read_json
from tierflow.gateway.exchange import dumps

AUTH = web.AppKey("console_auth", ConsoleAuth)
WORKSPACE = web.AppKey("console_workspace", Workspace)
RETIRED = web.AppKey("console_retired_clients", list)
"""Clients replaced by a reload of the gateway's config: closed when the server stops."""
_STATIC = {"console.js": "text/javascript", "views.js": "text/javascript", "login.js": "text/javascript",
           "routers.js": "text/javascript", "flowgraph.js": "text/javascript", "picker.js": "text/javascript",
           "console.css": "text/css"}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _asset(name: str) -> bytes:
    return resources.files("tierflow.console").joinpath("static", name).read_bytes()


def _headers(cache: bool = False) -> dict[str, str]:
    return {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY", "Cache-Control": "private, max-age=300" if cache else "no-store"}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dumps(data), content_type="application/json", headers=_headers())


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **_headers()})


async def index(request: web.Request) -> web.StreamResponse:
    if request.app[AUTH].session(request) is None:
        return _see_other("/ui/login")
    return web.Response(body=_asset("index.html"), content_type="text/html", headers=_headers())


async def login_page(request: web.Request) -> web.Response:
    return web.Response(body=_asset("login.html"), content_type="text/html", headers=_headers())


async def login_state(request: web.Request) -> web.Response:
    """What the sign-in page says about the one-time token (no session needed): unused, used, locked or none."""
    return json_response({"token": request.app[AUTH].token_state})


async def login(request: web.Request) -> web.StreamResponse:
    check_origin(request)
    form = await request.post()
    secret = form.get("secret")
    try:
        session_id = request.app[AUTH].sign_in(secret.strip() if isinstance(secret, str) else "")
    except GatewayError as exc:
        return _see_other(f"/ui/login?failed={exc.code}")
    response = _see_other("/ui")
    set_cookie(response, session_id)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    auth.require(request)
    auth.sign_out(request)
    response = _see_other("/ui/login")
    response.del_cookie("tierflow_console", path="/ui")
    return response


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise GatewayError(404, f"no console asset {name!r}", code="not_found")
    return web.Response(body=_asset(name), content_type=_STATIC[name], headers=_headers(cache=True))


async def session_info(request: web.Request) -> web.Response:
    session = request.app[AUTH].require(request)
    return json_response({"csrf": session.csrf, "one_time": session.one_time})


async def list_files(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    files = await asyncio.to_thread(request.app[WORKSPACE].files)
    return json_response({"files": [{"path": f.name, "kind": f.kind} for f in files]})


async def get_file(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    f = request.app[WORKSPACE].get(request.query.get("path", ""))
    text = read_text(f)
    remember(f.name, text)
    return json_response(page_view(f, text))


async def check_edit(request: web.Request) -> web.Response:
    """The edit checked as the CLI checks the file, with the previews (called as the user types)."""
    request.app[AUTH].require(request)
    body = await read_json(request)
    f = request.app[WORKSPACE].get(str(body.get("path", "")) if isinstance(body, dict) else "")
    edit = Edit.from_body(body)
    project = request.app[KEY].config

    def run() -> dict[str, Any]:
        candidate = candidate_text(f, read_text(f), edit)
        return check(f, candidate, project).to_json()

    return json_response(await asyncio.to_thread(run))


async def save_edit(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    body = await read_json(request)
    f = request.app[WORKSPACE].get(str(body.get("path", "")) if isinstance(body, dict) else "")
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, str):
        raise GatewayError(400, "'version' (from the file as loaded) is required", param="version",
                           code="invalid_value")
    status, data = await save(request.app[KEY], f, version, Edit.from_body(body), request.app[RETIRED])
    return json_response(data, status)


async def catalog(request: web.Request) -> web.Response:
    """Catalog models grouped by slug prefix, each with the ``ref`` + ``model`` pair it writes."""
    request.app[AUTH].require(request)

    def groups() -> list[dict[str, Any]]:
        from tierflow.catalog import group_by_prefix
        from tierflow.catalog.roles import REF_ALIASES

        out = []
        for prefix, models in group_by_prefix().items():
            ref = REF_ALIASES.get(prefix.rstrip("/"), prefix.rstrip("/"))
            out.append({"prefix": prefix, "models": [
                {**m, "ref": ref, "model": m["slug"].split("/", 1)[1]} for m in models if "/" in m["slug"]]})
        return out

    try:
        data = await asyncio.to_thread(groups)
    except Exception:  # noqa: BLE001 - no catalog: the picker still offers "Custom"
        data = []
    return json_response({"groups": data})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/ui", index)
    r.add_get("/ui/", index)
    r.add_get("/ui/login", login_page)
    r.add_post("/ui/login", login)
    r.add_get("/ui/login/state", login_state)
    r.add_post("/ui/logout", logout)
    r.add_get("/ui/static/{name}", static)
    r.add_get("/ui/api/session", session_info)
    r.add_get("/ui/api/files", list_files)
    r.add_get("/ui/api/file", get_file)
    r.add_post("/ui/api/check", check_edit)
    r.add_post("/ui/api/save", save_edit)
    r.add_get("/ui/api/catalog", catalog)


__all__ = ["AUTH", "RETIRED", "WORKSPACE", "add_routes", "json_response"]
