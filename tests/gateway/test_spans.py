"""OpenTelemetry through the gateway: each HTTP request's SERVER span is the parent of its call spans.

The real SDK with its in-memory exporter; the gateway on a real socket, called with the OpenAI SDK.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tierflow.testing import LLMTestServer, Status
from tierflow.tracing import OTelTracer

MSG = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(gateway_factory: Any, sdk_factory: Any, exporter: InMemorySpanExporter) -> openai.AsyncOpenAI:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = OTelTracer(tracer_provider=provider, meter_provider=MeterProvider())
    return sdk_factory(await gateway_factory(tracers=[tracer]))  # type: ignore[no-any-return]


def _one(spans: list[ReadableSpan], kind: SpanKind, prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.kind == kind and s.name.startswith(prefix)]


def _tree(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ReadableSpan, list[ReadableSpan]]:
    """The request's SERVER span, its call span and the call's attempt spans (checking each is unique)."""
    spans = list(exporter.get_finished_spans())
    (server,) = _one(spans, SpanKind.SERVER, "POST ")
    (call,) = _one(spans, SpanKind.INTERNAL, "tierflow.call ")
    attempts = _one(spans, SpanKind.CLIENT, "chat ")
    return server, call, attempts


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_the_server_span_is_the_parent_of_the_call_span_and_its_attempts(
        traced: openai.AsyncOpenAI, exporter: InMemorySpanExporter, upstream: LLMTestServer) -> None:
    upstream.script("strong-model", [Status(500)])  # one failed attempt, then the fallback answers
    raw = await traced.chat.completions.with_raw_response.create(model="strong", messages=MSG)
    server, call, attempts = _tree(exporter)
    assert server.name == "POST /v1/chat/completions" and server.parent is None
    assert server.attributes is not None and call.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "/v1/chat/completions"
    assert server.attributes["tierflow.request_id"] == raw.headers["x-request-id"]
    assert call.name == "tierflow.call strong" and _parent_of(call) == server.context.span_id
    assert call.attributes["tierflow.request_id"] == raw.headers["x-request-id"]
    assert [a.name for a in attempts] == ["chat strong-model", "chat backup-model"]
    assert {_parent_of(a) for a in attempts} == {call.context.span_id}
    assert {s.context.trace_id for s in (server, call, *attempts)} == {server.context.trace_id}
    assert server.start_time <= call.start_time and call.end_time <= server.end_time  # type: ignore[operator]


async def test_a_stream_is_traced_the_same_way(traced: openai.AsyncOpenAI, exporter: InMemorySpanExporter) -> None:
    stream = await traced.chat.completions.create(model="fast", messages=MSG, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hello there"
    server, call, attempts = _tree(exporter)
    assert _parent_of(call) == server.context.span_id
    assert [(a.name, _parent_of(a)) for a in attempts] == [("chat fast-model", call.context.span_id)]
    assert call.attributes is not None and call.attributes["gen_ai.request.stream"] is True


async def test_the_clients_traceparent_makes_the_server_span_its_child(
        traced: openai.AsyncOpenAI, exporter: InMemorySpanExporter) -> None:
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    await traced.chat.completions.create(model="fast", messages=MSG,
                                         extra_headers={"traceparent": f"00-{trace_id}-{span_id}-01"})
    server, call, _ = _tree(exporter)
    assert server.context.trace_id == int(trace_id, 16) and _parent_of(server) == int(span_id, 16)
    assert call.context.trace_id == int(trace_id, 16) and _parent_of(call) == server.context.span_id


async def test_a_refused_request_has_a_server_span_and_no_call_span(
        traced: openai.AsyncOpenAI, exporter: InMemorySpanExporter) -> None:
    with pytest.raises(openai.NotFoundError):
        await traced.chat.completions.create(model="no-such-role", messages=MSG)
    spans = list(exporter.get_finished_spans())
    assert [(s.name, s.kind) for s in spans] == [("POST /v1/chat/completions", SpanKind.SERVER)]
    assert spans[0].attributes is not None and spans[0].attributes["http.response.status_code"] == 404
    assert spans[0].status.status_code != StatusCode.ERROR  # a client's mistake is not the server's error


async def test_without_a_tracer_no_span_middleware_is_added(gateway_factory: Any) -> None:
    from tierflow.gateway.spans import spans_middleware

    srv = await gateway_factory()
    assert spans_middleware(srv.gateway.tracers) is None
