"""The gateway's state: one config, its client and ledger, its model listing, how names resolve.

Shared by the handlers (:mod:`tierflow.gateway.app`, ``chat``, ``streaming``, ``feedback``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from tierflow import _trace_frame
from tierflow.calls import Client
from tierflow.config import ProjectConfig
from tierflow.errors import ConfigError, GatewayError, Problem
from tierflow.gateway.budgets import Admission, Limiter
from tierflow.gateway.exchange import Exchange, dumps
from tierflow.gateway.failures import retry_after_headers, to_gateway_error
from tierflow.gateway.keys import KeyStore, VirtualKey
from tierflow.gateway.ledger import Ledger
from tierflow.gateway.settings import GatewaySettings
from tierflow.gateway.wire import ChatCall, error_body
from tierflow.local_models import tierflow_home
from tierflow.providers.base import Provider, create_provider

_log = logging.getLogger("tierflow.gateway")
EXCHANGE = web.RequestKey("exchange", Exchange)


class Gateway:
    """One config served over HTTP: its client, its model listing and how names resolve."""

    def __init__(self, config: ProjectConfig, settings: GatewaySettings, *, admin_key: str | None = None,
                 require_auth: bool = False, tracers: Sequence[Any] = ()) -> None:
        """``admin_key``: manages keys and may call everything (from ``$TIERFLOW_ADMIN_KEY``).
        ``require_auth``: every request needs a key (the server sets it when it binds beyond loopback);
        otherwise keys are needed once an admin key or a virtual key exists. ``tracers``:
        :class:`tierflow.tracing.Tracer` objects receiving every call's events (docs/tracing.md), besides
        those the config's ``tracing:`` asks for; kept in ``given_tracers`` (a reload keeps them)."""
        self.config = config
        self.settings = settings
        self.admin_key = admin_key or None
        self.require_auth = require_auth
        refs = {t.ref for entry in config.registry for t in entry.chain} | set(config.providers)
        optional = set()
        if settings.passthrough is True:
            optional = {name for name in ("openai", "anthropic", "gemini", "local") if config.has_provider(name)}
        elif isinstance(settings.passthrough, list):
            optional = set(settings.passthrough)
        providers = _providers(config, sorted(refs))
        for name in sorted(optional - refs):
            try:
                providers.update(_providers(config, [name]))
            except Exception:  # noqa: BLE001 - a well-known provider without its key: not offered
                _log.info("pass-through provider %s is not available (its key is not set)", name)
        self.passthrough = sorted(n for n in providers if settings.allows_passthrough(n))
        self.given_tracers = list(tracers)
        # the gateway writes its own ledger rows: of the config's tracers, only OpenTelemetry
        tracers = [*tracers, *_trace_frame.hooks().tracers_from_config(config, ledger=False)]
        self.client = Client(config, providers=providers, observers=tracers, trace_config=False)
        self.tracers = list(tracers)
        for tracer in self.tracers:
            tracer.bind(self.client)
        self.models = self._listing()
        self.names = {m["id"] for m in self.models}
        self._ledger: Ledger | None = None
        self._keys: KeyStore | None = None
        self._limiter: Limiter | None = None
        self.ready = False

    @staticmethod
    def default_database() -> Path:
        return tierflow_home() / "gateway.sqlite"

    @property
    def database(self) -> Path:
        return Path(self.settings.database) if self.settings.database else self.default_database()

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("the gateway is not started: call open() first")
        return self._ledger

    @property
    def keys(self) -> KeyStore:
        if self._keys is None:
            raise RuntimeError("the gateway is not started: call open() first")
        return self._keys

    @property
    def limiter(self) -> Limiter:
        if self._limiter is None:
            raise RuntimeError("the gateway is not started: call open() first")
        return self._limiter

    def open(self) -> None:
        """Open the database: the ledger (and its writer thread) and the keys; the server calls it at start."""
        if self._ledger is not None:
            return
        s = self.settings
        try:
            self._ledger = Ledger(self.database, commit_interval_s=s.commit_interval_s, store_content=s.store_content)
            self._keys = KeyStore(self.database)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError([Problem(f"gateway.database {str(self.database)!r}", f"cannot open the database "
                                       f"({type(exc).__name__}: {exc}); name a writable file")],
                              source=self.config.source) from None
        self._limiter = Limiter(self._keys, s, self.client)

    def auth_required(self) -> bool:
        return self.require_auth or self.admin_key is not None or self.keys.has_any()

    def check(self) -> None:
        """Build every role's plan now (routers loaded, strict prices checked): errors at start-up."""
        for name in self.names:
            self.client.planner.plan_any_modality(name)  # embedding-only roles too

    def _listing(self) -> list[dict[str, Any]]:
        def entry(name: str, kind: str, **more: Any) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": 0, "owned_by": "tierflow", "kind": kind, **more}

        registry = self.config.registry
        out = [entry(e.role, "role", targets=[str(t) for t in e.chain], modalities=list(e.modalities))
               for e in registry]
        out += [entry(role, "routed_role", candidates=list(spec.get("candidates") or []))
                for role, spec in self.config.routed_roles.items()]
        out += [entry(split.role, "split", variants=[{"role": a.role, "weight": a.weight} for a in split.split])
                for split in registry.splits.values()]
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
        return to_gateway_error(exc)

    async def aclose(self) -> None:
        """Close the providers, then write what the ledger holds."""
        try:
            await self.client.aclose()
        finally:
            if self._ledger is not None:
                await asyncio.to_thread(self._ledger.close)
                self._ledger = None
            if self._keys is not None:
                self._keys.close()
                self._keys = self._limiter = None


def _providers(config: ProjectConfig, names: list[str]) -> dict[str, Provider]:
    """A provider for each name, created now so that a missing key fails at start-up, not per request."""
    return {name: create_provider(name, config.provider_settings(name)) for name in names}


KEY = web.AppKey("gateway", Gateway)
CALLER = web.RequestKey("caller_key_id", str)
"""The id of the key a request was made with: a virtual key's id, ``admin``, or absent (no key)."""
CALLER_KEY = web.RequestKey("caller_key", VirtualKey)
"""The virtual key a request was made with (absent for the admin key and for no key)."""


def caller_key_id(request: web.Request) -> str | None:
    """The id of the key the request was authenticated with (None without keys)."""
    return request.get(CALLER)


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



# --- what every model request (chat, embeddings) does around its call -------------------------------

Answer = Callable[[web.Request, Exchange, list[Admission]], Awaitable[web.StreamResponse]]
"""A handler's own part: the call and its answer (it may append the key's reservation to the list)."""


async def ledgered(request: web.Request, answer: Answer) -> web.StreamResponse:
    """Run ``answer`` for one model request and account for it, whatever its end.

    Any failure becomes an OpenAI-shaped error answer; the response is sent here (unless ``answer``
    sent it, as a stream does), then the key's reservation is settled and the ledger row appended:
    after the last byte, or when the client went away (status 499).
    """
    gateway = request.app[KEY]
    exchange = Exchange(request)
    exchange.key_id = caller_key_id(request)
    request[EXCHANGE] = exchange
    admission: list[Admission] = []
    try:
        try:
            resp = await answer(request, exchange, admission)
        except GatewayError as exc:
            exchange.failed(exc, exc.__cause__)
            resp = error_response(exc, exchange.headers())
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            _log.exception("request %s failed unexpectedly", exchange.request_id)
            err = to_gateway_error(RuntimeError())
            exchange.failed(err)
            resp = error_response(err, exchange.headers())
        if not resp.prepared:  # send it here, so the ledger row is written after its last byte
            await resp.prepare(request)
            await resp.write_eof()
    except (asyncio.CancelledError, ConnectionResetError):
        exchange.cancelled()
        raise
    finally:
        for held in admission:
            gateway.limiter.settle(held, exchange)
        gateway.ledger.append(exchange)
    return resp


async def read_body(request: web.Request, exchange: Exchange) -> Any:
    """The request's JSON body, once its headers are checked (a bad client request id is a 400)."""
    exchange.check_headers()
    return await read_json(request)


def admit(request: web.Request, exchange: Exchange, call: ChatCall, admission: list[Admission], *,
          roles_only: str | None = None) -> None:
    """Resolve the checked ``call``'s model (404 for an unknown name; ``roles_only``: the 400 for a
    name that is not a role) and reserve what the caller's key allows (settled by :func:`ledgered`)."""
    gateway = request.app[KEY]
    exchange.call = call
    exchange.name = gateway.resolve(call.model)
    exchange.is_role = exchange.name in gateway.names
    if roles_only is not None and not exchange.is_role:
        raise GatewayError(400, roles_only, param="model", code="invalid_value")
    key = request.get(CALLER_KEY)
    if key is not None:  # the key's limits: reserve now, settle when the response has ended
        admission.append(gateway.limiter.admit(key, exchange.name, exchange.is_role, call))


__all__ = ["Gateway", "KEY", "EXCHANGE", "CALLER", "CALLER_KEY", "admit", "caller_key_id", "error_response",
           "ledgered", "read_body", "read_json"]
