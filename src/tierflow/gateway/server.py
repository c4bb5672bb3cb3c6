"""Running the gateway: one process, one event loop, until SIGINT / SIGTERM.

:class:`GatewayServer` starts the aiohttp application on a real socket (``port=0`` picks a free
one, for tests) and stops it gracefully: ``/ready`` turns 503, requests in flight get
``shutdown_timeout`` seconds to finish, then the providers are closed. Handler cancellation is on,
so a client that disconnects cancels its upstream request at once.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from tierflow import _trace_frame
from tierflow.errors import ConfigError, Problem
from tierflow.gateway.app import Gateway, Mount, build_app
from tierflow.gateway.keys import ADMIN_KEY_ENV
from tierflow.gateway.settings import load_gateway_config


def is_loopback(host: str) -> bool:
    """Does binding ``host`` keep the gateway on this machine? (Unknown names: no, so keys are required.)"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewayServer:
    """``async with GatewayServer(gateway, port=0) as srv: srv.base_url`` (``/v1`` is below it).

    ``mounts``: routes of other packages served beside the API (the console: ``mounts=[console_mount()]``)."""

    def __init__(self, gateway: Gateway, host: str = "127.0.0.1", port: int = 8000, *,
                 shutdown_timeout: float = 10.0, mounts: Sequence[Mount] = ()) -> None:
        self.gateway = gateway
        self.mounts = tuple(mounts)
        self.host, self.port = host, port
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> GatewayServer:
        self._runner = web.AppRunner(build_app(self.gateway, mounts=self.mounts), access_log=None,
                                     handler_cancellation=True, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        for mount in self.mounts:
            if mount.bound is not None:
                mount.bound(self._runner.app, self.base_url)
        return self

    async def close(self) -> None:
        if self._runner is not None:
            self.gateway.ready = False
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GatewayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _serve_forever(gateway: Gateway, host: str, port: int, mounts: Sequence[Mount]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with GatewayServer(gateway, host, port, mounts=mounts) as srv:
        _settle_gc()
        print(f"tierflow gateway listening on {srv.base_url} (OpenAI API at {srv.base_url}/v1; "
              f"{len(gateway.names)} models)", flush=True)
        await stop.wait()
        print("tierflow gateway stopping", file=sys.stderr, flush=True)


def _settle_gc() -> None:
    """Freeze what start-up made, once the server has started (docs/gateway.md, "Benchmarks").

    Start-up (modules, config, plans, the application) leaves about 60,000 objects that mostly live
    as long as the process; frozen, the collector's full collections no longer walk them on every
    pass (what a console reload replaces is still freed by reference counting; cycles among it
    would stay, once per reload). The thresholds stay Python's: a youngest generation collected
    after 20,000 allocations rather than 700 measured no clear gain and grew the gateway's memory
    by 6.5-7 % over 8,000 requests of the load run, against 3.5 % (bench_gateway.py load).
    """
    gc.collect()
    gc.freeze()


def serve(config: str | Path | None, host: str = "127.0.0.1", port: int = 8000, *,
          env: Mapping[str, str] | None = None, mounts: Sequence[Mount] = ()) -> None:
    """Load ``config`` (None: ``$TIERFLOW_CONFIG`` or the embedded local default), check every role,
    and serve until SIGINT / SIGTERM. Raises ``ConfigError`` (listing every problem) before serving.
    ``mounts`` are served beside the API (``tierflow serve`` mounts the console at ``/ui``).

    The admin key is read from ``$TIERFLOW_ADMIN_KEY``. Beyond loopback every request needs a key,
    so the gateway refuses to start there without an admin key or a virtual key."""
    environ = os.environ if env is None else env
    project, settings = load_gateway_config(config, env=env)
    loopback = is_loopback(host)
    # OTLP export when OTEL_EXPORTER_OTLP_* asks, unless the config's tracing.otel already does (docs/tracing.md)
    tracers = [] if project.tracing.otel else _trace_frame.hooks().tracers_from_environment(environ)
    gateway = Gateway(project, settings, admin_key=environ.get(ADMIN_KEY_ENV) or None, require_auth=not loopback,
                      tracers=tracers)
    gateway.check()
    if not loopback and gateway.admin_key is None:
        gateway.open()  # a database that cannot be opened is a ConfigError naming it
        if not gateway.keys.has_active():
            raise ConfigError([Problem(f"--host {host}", f"beyond loopback every request needs a key, and none "
                                       f"exists: set {ADMIN_KEY_ENV}, or create keys with `tierflow keys create`")],
                              source=project.source)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(_serve_forever(gateway, host, port, mounts))
    finally:
        for tracer in tracers:
            getattr(tracer, "shutdown", tracer.flush)()  # send what is queued, a few seconds at most


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (14-17 % less CPU per request, docs/gateway.md), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


__all__ = ["GatewayServer", "is_loopback", "serve"]
