"""A span per HTTP request, for the tracers that make them (OpenTelemetry's: a SERVER span).

The span is current while the request is handled, so the call spans of the library's calls made
for it are its children (docs/tracing.md). Without such a tracer no middleware is added: requests
pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tierflow.gateway.core import EXCHANGE

if TYPE_CHECKING:  # the gateway does not import tracing at run time (README, Layout)
    from tierflow.tracing.tracer import Tracer

_UNTRACED = frozenset({"/health", "/ready"})


def spans_middleware(tracers: Sequence[Tracer]) -> Middleware | None:
    """The middleware opening each request's spans, or None when no tracer makes them."""
    serving = [t for t in tracers if t.traces_requests]
    if not serving:
        return None

    @web.middleware
    async def spans(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _UNTRACED:
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else None
        with ExitStack() as stack:
            opened = [stack.enter_context(span) for t in serving
                      if (span := t.request_span(request.method, route, request.path, request.headers)) is not None]
            resp = await handler(request)
            exchange = request.get(EXCHANGE)
            request_id = exchange.request_id if exchange is not None else resp.headers.get("x-request-id")
            for span in opened:
                span.finish(resp.status, request_id)
            return resp

    return spans


__all__ = ["spans_middleware"]
