"""The SERVER span of one HTTP request the gateway serves (:meth:`tierflow.tracing.OTelTracer.request_span`).

It follows OpenTelemetry's HTTP server conventions: named ``{method} {route}``, with
``http.request.method``, ``url.path``, ``http.route`` and ``http.response.status_code``; a 5xx
answer (or a handler that raised) marks it an error. A W3C ``traceparent`` sent by the client
makes it a child of the client's span. While the request is handled it is the current span, so
the ``tierflow.call`` spans of the calls made for it (and their ``chat`` attempt spans) are its
children.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode


class ServerSpan:
    """``with span: ...; span.finish(status, request_id)``: one request's SERVER span."""

    __slots__ = ("_tracer", "_name", "_attributes", "_headers", "_span", "_token")

    def __init__(self, tracer: Any, method: str, route: str | None, path: str, headers: Mapping[str, str],
                 common: Mapping[str, Any]) -> None:
        self._tracer = tracer
        self._name = f"{method} {route}" if route else method
        self._attributes = {**common, "http.request.method": method, "url.path": path, "url.scheme": "http"}
        if route:
            self._attributes["http.route"] = route
        self._headers = headers
        self._span: Any = None
        self._token: object = None

    def __enter__(self) -> ServerSpan:
        parent = propagate.extract(self._headers)  # the client's traceparent, if it sent one
        self._span = self._tracer.start_span(self._name, context=parent, kind=SpanKind.SERVER,
                                             attributes=self._attributes)
        self._token = otel_context.attach(otel_trace.set_span_in_context(self._span, parent))
        return self

    def finish(self, status: int, request_id: str | None) -> None:
        span = self._span
        span.set_attribute("http.response.status_code", status)
        if request_id:
            span.set_attribute("tierflow.request_id", request_id)
        if status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]
        if kind is not None:  # the handler raised (a cancelled request: the client went away)
            self._span.set_attribute("error.type", kind.__name__)
            self._span.set_status(Status(StatusCode.ERROR, kind.__name__))
        self._span.end()


__all__ = ["ServerSpan"]
