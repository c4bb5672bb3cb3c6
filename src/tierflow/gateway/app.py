"""The gateway's HTTP application (aiohttp.web, chosen by measurement: docs/gateway.md).

Routes: ``POST /v1/chat/completions`` (plain and SSE), ``POST /v1/embeddings``, ``POST /v1/feedback``,
``GET /v1/models`` and ``/v1/models/{id}``, ``GET /health`` (the process answers) and ``/ready`` (it serves), and the
admin API under ``/admin/keys`` (:mod:`tierflow.gateway.auth`). Every
answer carries ``x-request-id``; a client's own ``x-request-id`` comes back as
``x-client-request-id``. Errors have OpenAI's shape; nothing else (no traceback, no secret) ever
reaches a body. The gateway translates: roles, fallbacks, routing, retries and cost are the
library's (:class:`tierflow.Client`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tierflow.errors import ConfigError, GatewayError, Problem
from tierflow.gateway.auth import auth_middleware, create_key, list_keys, revoke_key
from tierflow.gateway.chat import chat_completions
from tierflow.gateway.core import EXCHANGE, KEY, Gateway, error_response
from tierflow.gateway.embeddings import embeddings
from tierflow.gateway.exchange import dumps, new_request_id
from tierflow.gateway.failures import to_gateway_error
from tierflow.gateway.feedback import post_feedback
from tierflow.gateway.spans import spans_middleware

_log = logging.getLogger("tierflow.gateway")


async def list_models(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    return web.Response(body=dumps({"object": "list", "data": gateway.models}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    name = request.match_info["model"]
    for model in gateway.models:
        if model["id"] == name:
            return web.Response(body=dumps(model), content_type="application/json")
    gateway.resolve(name)  # raises the 404 listing the valid names
    raise GatewayError(404, f"{name!r} is a pass-through name, not a listed model", code="model_not_found")


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    if gateway.ready:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready"}, status=503)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as an OpenAI error: GatewayError as is, aiohttp's own (404, 405...), else 500."""
    try:
        return await handler(request)
    except GatewayError as exc:
        err = exc
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = GatewayError(exc.status, f"{request.method} {request.path}: {exc.reason}",
                           code=_HTTP_CODES.get(exc.status, "http_error"))
    except asyncio.CancelledError:
        raise
    except Exception:
        _log.exception("unexpected error in %s %s", request.method, request.path)
        err = to_gateway_error(RuntimeError())
    exchange = request.get(EXCHANGE)
    headers = exchange.headers() if exchange is not None else {"x-request-id": new_request_id()}
    return error_response(err, headers)


@dataclass(frozen=True, slots=True)
class Mount:
    """Routes another package adds to the gateway's application under ``prefix``: the web console at
    ``/ui`` (:func:`tierflow.console.console_mount`, which ``tierflow serve`` passes). Requests under
    the prefix skip the gateway's API-key check: the mount checks its own sign-in."""

    prefix: str
    """Where the mount's routes live: ``/name`` (one or more segments, no trailing ``/``), clear of the
    gateway's own paths (:data:`GATEWAY_PATHS`)."""
    add: Callable[[web.Application], None]
    """Adds the mount's routes (and start-up or clean-up steps) to the app, once its state is set."""
    bound: Callable[[web.Application, str], None] | None = None
    """Called with the app and the server's base URL once its socket is bound (the real port when 0 was asked)."""

    def __post_init__(self) -> None:
        """Refuse a prefix that would cover the gateway's own API (and so turn its key check off there)."""
        p = self.prefix
        if not isinstance(p, str) or not p.startswith("/") or p == "/" or p.endswith("/") or "//" in p:
            why = "expected a path such as '/ui': starting with '/', not '/' alone, without a trailing '/'"
        else:
            clash = [own for own in GATEWAY_PATHS if _covers(own, p) or _covers(p, own)]
            why = f"it overlaps the gateway's own {', '.join(clash)}" if clash else ""
        if why:
            raise ConfigError([Problem(f"Mount prefix {p!r}", f"{why}; requests under a mount skip the gateway's "
                                       f"API-key check, so it must stay clear of {', '.join(GATEWAY_PATHS)}")])

    def owns(self, path: str) -> bool:
        """Whether a request for ``path`` is the mount's (its prefix or below it): the gateway then leaves
        sign-in to the mount."""
        return _covers(self.prefix, path)


GATEWAY_PATHS = ("/v1", "/admin", "/health", "/ready")
"""The paths the gateway serves itself (and checks API keys on): no :class:`Mount` may overlap them."""


def _covers(prefix: str, path: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _except_mounts(middleware: Middleware, mounts: Sequence[Mount]) -> Middleware:
    """``middleware`` for every path but the mounts' (which check their own sign-in instead)."""
    if not mounts:
        return middleware

    @web.middleware
    async def wrapped(request: web.Request, handler: Handler) -> web.StreamResponse:
        if any(m.owns(request.path) for m in mounts):
            return await handler(request)
        return await middleware(request, handler)

    return wrapped


def build_app(gateway: Gateway, *, mounts: Sequence[Mount] = ()) -> web.Application:
    """The aiohttp application serving ``gateway`` (closing it closes the gateway's client), with
    ``mounts`` added after the gateway's own routes (``tierflow serve`` mounts the console)."""
    spans = spans_middleware(gateway.tracers)  # a SERVER span per request when OpenTelemetry traces
    app = web.Application(client_max_size=gateway.settings.max_body_bytes,
                          middlewares=[*([spans] if spans else []), errors_middleware,
                                       _except_mounts(auth_middleware, mounts)])
    app[KEY] = gateway
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/feedback", post_feedback)
    app.router.add_post("/admin/keys", create_key)
    app.router.add_get("/admin/keys", list_keys)
    app.router.add_delete("/admin/keys/{key_id}", revoke_key)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    for mount in mounts:
        mount.add(app)

    async def lifecycle(app: web.Application) -> Any:
        await asyncio.to_thread(gateway.open)
        gateway.ready = True
        yield
        gateway.ready = False
        await gateway.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app


__all__ = ["GATEWAY_PATHS", "Gateway", "Mount", "build_app"]
