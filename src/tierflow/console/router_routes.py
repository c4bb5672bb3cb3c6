"""The Routers view's API: ``GET /ui/api/routers`` (signed in).

For each routed role of the served config: the router's cost-quality curve as the library reads it
from the role's router file (:func:`tierflow.routing.router_curve.routed_role_curve`), or the
library's error naming the file when it is missing or damaged; and the role's figures over the
last 7 days from the ledger (:meth:`tierflow.console.ledger_views.LedgerViews.routed`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from tierflow.config import ProjectConfig
from tierflow.console.ledger_routes import LEDGER
from tierflow.console.ledger_views import LedgerViews
from tierflow.console.routes import AUTH, json_response
from tierflow.errors import ConfigError, RoutingError
from tierflow.gateway.core import KEY

WINDOW_S = 7 * 86400


def _role(config: ProjectConfig, ledger: LedgerViews, role: str, since: float) -> dict[str, Any]:
    from tierflow.routing.router_curve import routed_role_curve  # only configs with routed roles pay for it

    spec = config.routed_roles[role]
    out: dict[str, Any] = {"role": role, "router": str(spec.get("router", "")),
                           "candidates": list(spec.get("candidates") or []), "curve": None, "error": None}
    try:
        out["curve"] = routed_role_curve(config, role).to_json()
    except (RoutingError, ConfigError, OSError) as exc:
        out["error"] = str(exc)
    out["live"] = ledger.routed(role, since)
    return out


async def routers(request: web.Request) -> web.Response:
    request.app[AUTH].require(request)
    config = request.app[KEY].config
    ledger = request.app[LEDGER]
    since = time.time() - WINDOW_S

    def run() -> list[dict[str, Any]]:
        return [_role(config, ledger, role, since) for role in config.routed_roles]

    return json_response({"window_s": WINDOW_S, "data": await asyncio.to_thread(run)})


def add_router_routes(app: web.Application) -> None:
    app.router.add_get("/ui/api/routers", routers)


__all__ = ["WINDOW_S", "add_router_routes"]
