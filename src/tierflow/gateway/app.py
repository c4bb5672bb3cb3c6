"""The gateway's HTTP application (aiohttp.web, chosen by measurement: docs/gateway.md).

Routes: ``POST /v1/chat/completions`` (plain and SSE), ``GET /v1/models`` and
``/v1/models/{id}``, ``GET /health`` (the process answers) and ``/ready`` (it serves). Every
answer carries ``x-request-id``; a client's own ``x-request-id`` comes back as
``x-client-request-id``. Errors have OpenAI's shape; nothing else (no traceback, no secret) ever
reaches a body. The gateway translates: roles, fallbacks, routing, retries and cost are the
library's (:class:`tierflow.Client`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from aiohttp import web

from tierflow.calls import Client
from tierflow.config import ProjectConfig
from tierflow.errors import AllTargetsFailedError, GatewayError
from tierflow.gateway.exchange import Exchange, dumps, result_headers
from tierflow.gateway.failures import retry_after_headers, to_gateway_error
from tierflow.gateway.settings import GatewaySettings
from tierflow.gateway.streaming import relay
from tierflow.gateway.tap import tapped_providers
from tierflow.gateway.wire import completion_body, error_body, parse_chat

_log = logging.getLogger("tierflow.gateway")
EXCHANGE = web.RequestKey("exchange", Exchange)


class Gateway:
    """One config served over HTTP: its client, its model listing and how names resolve."""

    def __init__(self, config: ProjectConfig, settings: GatewaySettings) -> None:
        self.config = config
        self.settings = settings
        refs = {t.ref for entry in config.registry for t in entry.chain} | set(config.providers)
        optional = set()
        if settings.passthrough is True:
            optional = {name for name in ("openai", "anthropic", "gemini", "local") if config.has_provider(name)}
        elif isinstance(settings.passthrough, list):
            optional = set(settings.passthrough)
        providers = tapped_providers(config, sorted(refs))
        for name in sorted(optional - refs):
            try:
                providers.update(tapped_providers(config, [name]))
            except Exception:  # noqa: BLE001 - a well-known provider without its key: not offered
                _log.info("pass-through provider %s is not available (its key is not set)", name)
        self.passthrough = sorted(n for n in providers if settings.allows_passthrough(n))
        self.client = Client(config, providers=providers)
        self.models = self._listing()
        self.names = {m["id"] for m in self.models}
        self.ready = False

    def check(self) -> None:
        """Build every role's plan now (routers loaded, strict prices checked): errors at start-up."""
        for name in self.names:
            self.client.planner.plan(name)

    def _listing(self) -> list[dict[str, Any]]:
        def entry(name: str, kind: str, **more: Any) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": 0, "owned_by": "tierflow", "kind": kind, **more}

        registry = self.config.registry
        out = [entry(e.role, "role", targets=[str(t) for t in e.chain]) for e in registry]
        if "primary" not in registry.roles:
            out.insert(0, entry("primary", "role", targets=[str(t) for t in registry.primary.chain],
                                alias_of=registry.primary.role))
        out += [entry(role, "routed_role", candidates=list(spec.get("candidates") or []))
                for role, spec in self.config.routed_roles.items()]
        return out

    def resolve(self, model: str) -> str:
        """The name to call for a request's ``model``; 404 listing the valid ones otherwise."""
        if model in self.names:
            return model
        ref, sep, rest = model.partition("/")
        if sep and rest and ref in self.passthrough:
            return model
        shown = model if len(model) <= 100 else model[:100] + "..."
        hint = (f", or 'provider/model' with a provider in {self.passthrough}" if self.passthrough
                else " ('provider/model' names are off: gateway.passthrough in the config)" if sep else "")
        raise GatewayError(404, f"The model {shown!r} does not exist on this gateway: valid models are "
                           f"{sorted(self.names)}{hint}", param="model", code="model_not_found")

    def wire_error(self, exc: BaseException) -> GatewayError:
        cooldown = None
        if isinstance(exc, AllTargetsFailedError) and exc.last_error is None:
            waits = [self.client.breakers.remaining(a.target) for a in exc.attempts]
            cooldown = min((w for w in waits if w > 0), default=None)
        return to_gateway_error(exc, cooldown)

    async def aclose(self) -> None:
        await self.client.aclose()


KEY = web.AppKey("gateway", Gateway)


def error_response(exc: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=exc.status, body=dumps(error_body(exc)), content_type="application/json",
                        headers={**(headers or {}), **retry_after_headers(exc)})


async def read_json(request: web.Request) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[KEY].settings.max_body_bytes
        raise GatewayError(413, f"the request body is larger than this gateway accepts ({limit} bytes)",
                           code="request_too_large") from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise GatewayError(400, "the request body is not valid JSON (send a chat completions request as a JSON "
                           "object with Content-Type: application/json)", code="invalid_json") from None


# --- handlers -------------------------------------------------------------------------------------


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gateway = request.app[KEY]
    exchange = Exchange(request)
    request[EXCHANGE] = exchange
    call = parse_chat(await read_json(request), gateway.settings.max_messages)
    exchange.call = call
    exchange.name = gateway.resolve(call.model)
    exchange.is_role = exchange.name in gateway.names
    if call.stream:
        return await relay(request, gateway, exchange, call)
    try:
        result = await gateway.client.acall(exchange.name, call.messages, **call.options)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an OpenAI-shaped error
        raise gateway.wire_error(exc) from exc
    body = completion_body(exchange.completion_id, exchange.created, result)
    body["tierflow"] = exchange.report(result)
    return web.Response(body=dumps(body), content_type="application/json", headers=result_headers(exchange, result))


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
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
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
    headers = exchange.headers() if exchange is not None else {"x-request-id": uuid.uuid4().hex}
    return error_response(err, headers)


def build_app(gateway: Gateway) -> web.Application:
    """The aiohttp application serving ``gateway`` (closing it closes the gateway's client)."""
    app = web.Application(client_max_size=gateway.settings.max_body_bytes, middlewares=[errors_middleware])
    app[KEY] = gateway
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", get_model)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)

    async def lifecycle(app: web.Application) -> Any:
        gateway.ready = True
        yield
        gateway.ready = False
        await gateway.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app


__all__ = ["Gateway", "build_app", "error_response"]
