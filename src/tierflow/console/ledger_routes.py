"""The runs, cost and keys API of the console (signed in; writes need the CSRF token).

``GET /ui/api/runs`` (filters ``role``, ``model``, ``key``, ``status``, ``outcome``, ``since``,
``until``; ``before`` the cursor of the next page; ``limit``), ``GET /ui/api/runs/{id}``,
``GET /ui/api/cost?by=role|model|key&bucket=hour|day``, ``GET|POST /ui/api/keys``,
``POST /ui/api/keys/{id}/revoke``. Keys are the gateway's own (:mod:`tierflow.gateway.keys`): a
new key's secret is in the answer to its creation only, like ``tierflow keys create``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from tierflow.console.ledger_views import LedgerViews
from tierflow.console.routes import AUTH, json_response
from tierflow.errors import GatewayError
from tierflow.gateway.auth import check_key_fields
from tierflow.gateway.core import KEY, read_json

LEDGER = web.AppKey("console_ledger", LedgerViews)


async def runs(request: web.Request) -> web.Response:
    """``key`` is a key's id or its name (resolved through the keys store; a name no key has: no requests)."""
    request.app[AUTH].require(request)
    ref = request.query.get("key", "")
    ids = request.app[KEY].keys.ids_for(ref) if ref else None
    page = await asyncio.to_thread(request.app[LEDGER].runs, request.query, key_ids=ids or None)
    if ref and not ids and not page["data"]:  # an id only the ledger knows still filters (the admin key's)
        page["message"] = f"no key has the id or name {ref!r} (the Keys view lists them)"
    return json_response(page)


async def run(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    return json_response(await asyncio.to_thread(request.app[LEDGER].run, request.match_info["request_id"]))


async def cost(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    return json_response(await asyncio.to_thread(request.app[LEDGER].cost, request.query))


async def list_keys(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    gateway = request.app[KEY]
    return json_response({"data": [{**k.to_dict(), "spend": gateway.limiter.spend(k)} for k in gateway.keys.list()],
                          "roles": sorted(gateway.names)})


async def create_key(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    gateway = request.app[KEY]
    fields = check_key_fields(await read_json(request), gateway.names)
    key, secret = gateway.keys.create(fields.pop("name"), **fields)
    return json_response({**key.to_dict(), "key": secret}, status=201)


async def revoke_key(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    key = request.app[KEY].keys.revoke(request.match_info["key_id"])
    if key is None:
        raise GatewayError(404, f"no key {request.match_info['key_id']!r}", param="key_id", code="key_not_found")
    return json_response(key.to_dict())


def add_ledger_routes(app: web.Application, database: str) -> None:
    app[LEDGER] = LedgerViews(database)
    r = app.router
    r.add_get("/ui/api/runs", runs)
    r.add_get("/ui/api/runs/{request_id}", run)
    r.add_get("/ui/api/cost", cost)
    r.add_get("/ui/api/keys", list_keys)
    r.add_post("/ui/api/keys", create_key)
    r.add_post("/ui/api/keys/{key_id}/revoke", revoke_key)

    warming: list[asyncio.Future[None]] = []

    async def warm(app: web.Application) -> None:  # in the background: serving starts at once
        warming.append(asyncio.ensure_future(asyncio.to_thread(app[LEDGER].warm)))

    async def close(app: web.Application) -> None:
        for task in warming:
            try:
                await task
            except Exception:  # noqa: BLE001 - a ledger that cannot be read shows its error in the views
                pass
        await asyncio.to_thread(app[LEDGER].close)

    app.on_startup.append(warm)
    app.on_cleanup.append(close)


__all__ = ["LEDGER", "add_ledger_routes"]
