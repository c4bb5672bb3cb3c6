"""OpenTelemetry GenAI spans and metrics from tierflow's events (the ``tierflow[otel]`` extra).

Spans (docs/tracing.md has the attribute table):

- ``invoke_workflow {name}`` (INTERNAL) per engine run; one INTERNAL span per node and pattern;
- ``{method} {route}`` (SERVER) per HTTP request the gateway serves, its calls as children;
- ``tierflow.call {name}`` (INTERNAL) per call, its attempts as children;
- ``chat {model}`` (CLIENT) per attempt, ``model`` being the concrete provider model (receivers
  price by it), with ``gen_ai.*`` attributes, ``gen_ai.usage.cost`` and ``tierflow.*`` ones.

Message content is exported only with ``capture_content=True``. Metrics:
``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration`` and
``gen_ai.client.operation.time_to_first_chunk`` histograms. Export is OTLP/HTTP protobuf to
``endpoint`` (or the standard ``OTEL_EXPORTER_OTLP_*`` variables) through a bounded queue, so an
unreachable receiver never slows or fails a call (:mod:`tierflow.tracing._export`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tierflow.calls.events import AttemptFinished, AttemptStarted, CallFinished, FirstToken, RouteDecided
from tierflow.errors import TierflowError
from tierflow.tracing._genai import content_attributes, drop_none, request_attributes, usage_attributes
from tierflow.tracing._server_span import ServerSpan
from tierflow.tracing.events import (
    NodeFinished,
    NodeStarted,
    PatternFinished,
    PatternStarted,
    RunFinished,
    RunStarted,
    TraceEvent,
)
from tierflow.tracing.tracer import Tracer

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise TierflowError("tierflow.tracing.OTelTracer needs the OpenTelemetry SDK: pip install 'tierflow[otel]'"
                        ) from exc

_PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "local": "tierflow.local"}
_OFFICIAL_HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com",
                   "gemini": "generativelanguage.googleapis.com"}


@dataclass(slots=True)
class _Call:
    """What the events of one call left before its :class:`CallFinished`."""

    attempts: list[tuple[AttemptFinished, int]] = field(default_factory=list)
    starts: dict[int, int] = field(default_factory=dict)
    decision: dict[str, Any] | None = None
    ttft_s: float | None = None


def _now() -> int:
    return time.time_ns()


class OTelTracer(Tracer):
    """Exports tierflow's runs, patterns, calls and attempts as OpenTelemetry GenAI spans.

    ``endpoint``: an OTLP/HTTP traces URL (``http://127.0.0.1:6006/v1/traces`` for Phoenix); None
    reads ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the
    ``*_HEADERS`` variables). ``headers``: e.g. Langfuse's ``Authorization: Basic ...``.
    ``project``: the Phoenix project (``openinference.project.name``). ``tracer_provider`` /
    ``meter_provider``: use your own SDK providers instead (then nothing is exported by this
    tracer itself). ``max_queue``: spans held while the receiver is slow (more are dropped and
    counted: :meth:`stats`). Call :meth:`shutdown` (or ``with OTelTracer(...)``) before exiting.
    """

    def __init__(self, *, endpoint: str | None = None, headers: Mapping[str, str] | None = None,
                 service_name: str = "tierflow", project: str | None = None, capture_content: bool = False,
                 max_queue: int = 2048, export_timeout_s: float = 5.0, tracer_provider: Any = None,
                 meter_provider: Any = None, providers: Mapping[str, Any] | None = None, tags: Iterable[str] = (),
                 session_id: str | None = None, user_id: str | None = None,
                 metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(tags=tags, session_id=session_id, user_id=user_id, metadata=metadata)
        self.capture_content = capture_content
        self._processor: Any = None
        self._own_provider: TracerProvider | None = None
        if tracer_provider is None:
            tracer_provider = self._build_provider(endpoint, headers, service_name, project, max_queue,
                                                   export_timeout_s)
        self._tracer = tracer_provider.get_tracer("tierflow")
        meter = (meter_provider or otel_metrics.get_meter_provider()).get_meter("tierflow")
        self._tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                              description="Number of input and output tokens used")
        self._duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s",
                                                description="GenAI operation duration")
        self._ttfc = meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", unit="s",
                                            description="Time to the first chunk of a streamed answer")
        self._spans: dict[str, Any] = {}
        self._calls: dict[str, _Call] = {}
        self._providers: dict[str, tuple[str, str | None, int | None]] = {}
        for ref, settings in (providers or {}).items():
            self._describe(ref, settings)
        self._common = self._trace_attributes()

    # --- set-up -----------------------------------------------------------------------------------

    def _build_provider(self, endpoint: str | None, headers: Mapping[str, str] | None, service_name: str,
                        project: str | None, max_queue: int, timeout_s: float) -> TracerProvider:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from tierflow.tracing._export import BoundedSpanProcessor

        attrs: dict[str, Any] = {"service.name": service_name}
        if project:
            attrs["openinference.project.name"] = project
        provider = TracerProvider(resource=Resource.create(attrs))
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout_s)
        self._processor = BoundedSpanProcessor(exporter, max_queue=max_queue)
        provider.add_span_processor(self._processor)
        self._own_provider = provider
        return provider

    def _trace_attributes(self) -> dict[str, Any]:
        """Tags, session, user and metadata, under the names Phoenix (OpenInference) and Langfuse read."""
        attrs: dict[str, Any] = {}
        if self.tags:
            attrs["tag.tags"] = list(self.tags)
            attrs["langfuse.trace.tags"] = list(self.tags)
        if self.session_id:
            attrs["session.id"] = attrs["langfuse.session.id"] = self.session_id
        if self.user_id:
            attrs["user.id"] = attrs["langfuse.user.id"] = self.user_id
        if self.metadata:
            attrs["metadata"] = json.dumps(self.metadata, sort_keys=True)
            for k, v in self.metadata.items():
                attrs[f"langfuse.trace.metadata.{k}"] = str(v)
        return attrs

    def bind(self, client: Any) -> None:
        """Learn the provider kinds and hosts of ``client``'s config (for ``gen_ai.provider.name``, ``server.*``)."""
        config = getattr(client, "config", None)
        for ref, settings in (getattr(config, "providers", None) or {}).items():
            if ref not in self._providers:
                self._describe(ref, settings)

    def _describe(self, ref: str, settings: Any) -> None:
        kind = str(getattr(settings, "kind", None) or (settings.get("kind") if isinstance(settings, Mapping) else ref))
        base = getattr(settings, "base_url", None) or (settings.get("base_url") if isinstance(settings, Mapping)
                                                       else None)
        host, port = None, None
        if base:
            parts = urlsplit(str(base))
            host, port = parts.hostname, parts.port
        official = _OFFICIAL_HOSTS.get(kind)
        name = _PROVIDER_NAMES.get(kind, kind) if official is None or host in (None, official) else ref
        self._providers[ref] = (name, host, port)

    traces_requests = True

    def request_span(self, method: str, route: str | None, path: str, headers: Mapping[str, str]) -> ServerSpan:
        """The SERVER span of one HTTP request (the gateway's): the calls made for it are its children."""
        return ServerSpan(self._tracer, method, route, path, headers, self._common)

    def stats(self) -> dict[str, int]:
        """Spans exported, dropped and failed by this tracer's own exporter (zeros with your own provider)."""
        if self._processor is None:
            return {"exported": 0, "dropped": 0, "failed": 0, "queued": 0}
        return self._processor.stats()  # type: ignore[no-any-return]

    def flush(self, timeout_s: float = 10.0) -> None:
        if self._own_provider is not None:
            self._own_provider.force_flush(int(timeout_s * 1000))

    def shutdown(self) -> None:
        """Send what is queued (a few seconds at most), then stop exporting."""
        if self._own_provider is not None:
            self._own_provider.shutdown()

    def __enter__(self) -> OTelTracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- events -----------------------------------------------------------------------------------

    def handle(self, event: TraceEvent, parent_id: str | None) -> None:
        if isinstance(event, AttemptStarted):
            self._call(event.request_id).starts[event.attempt] = _now()
        elif isinstance(event, AttemptFinished):
            self._call(event.request_id).attempts.append((event, _now()))
        elif isinstance(event, RouteDecided):
            self._call(event.request_id).decision = event.decision
        elif isinstance(event, FirstToken):
            self._call(event.request_id).ttft_s = event.ttft_s
        elif isinstance(event, CallFinished):
            self._finish_call(event, parent_id)
        elif isinstance(event, RunStarted):
            self._open(event.span_id, f"invoke_workflow {event.name}", parent_id, {
                "gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": event.name,
                "tierflow.run_id": event.span_id, "openinference.span.kind": "CHAIN"})
        elif isinstance(event, NodeStarted):
            self._open(event.span_id, f"{event.kind} {event.node}", parent_id, {
                "tierflow.node": event.node, "tierflow.node.kind": event.kind,
                "openinference.span.kind": "CHAIN"})
        elif isinstance(event, PatternStarted):
            self._open(event.span_id, f"{event.pattern} {event.name}", parent_id, {
                "tierflow.pattern": event.pattern, "tierflow.pattern.name": event.name,
                "openinference.span.kind": "CHAIN"})
        elif isinstance(event, (RunFinished, NodeFinished, PatternFinished)):
            self._close(event)

    def _call(self, request_id: str) -> _Call:
        call = self._calls.get(request_id)
        if call is None:
            call = self._calls[request_id] = _Call()
        return call

    def _context(self, parent_id: str | None) -> Any:
        parent = None if parent_id is None else self._spans.get(parent_id)
        return None if parent is None else otel_trace.set_span_in_context(parent)

    def _open(self, span_id: str, name: str, parent_id: str | None, attrs: dict[str, Any]) -> None:
        span = self._tracer.start_span(name, context=self._context(parent_id), kind=SpanKind.INTERNAL,
                                       attributes={**self._common, **attrs})
        self._spans[span_id] = span

    def _close(self, event: RunFinished | NodeFinished | PatternFinished) -> None:
        span = self._spans.pop(event.span_id, None)
        if span is None:
            return
        attrs: dict[str, Any] = {"tierflow.outcome": event.outcome}
        usage, cost = getattr(event, "usage", None), getattr(event, "cost_usd", None)
        if isinstance(event, (NodeFinished, PatternFinished)) and event.model_used:
            attrs["tierflow.model_used"] = event.model_used
        if usage is not None:
            attrs["gen_ai.usage.input_tokens"] = usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = usage.output_tokens
        if cost is not None:
            attrs["gen_ai.usage.cost"] = cost
        if isinstance(event, PatternFinished):
            attrs.update(drop_none({"tierflow.pattern.role": event.role, "tierflow.pattern.reason": event.reason,
                                     "tierflow.pattern.confidence": event.confidence,
                                     "tierflow.pattern.escalated": event.escalated,
                                     "tierflow.pattern.calls": event.calls}))
        span.set_attributes(attrs)
        if event.error is not None:
            span.set_status(Status(StatusCode.ERROR, event.error))
            span.set_attribute("error.type", event.error)
        span.end()

    def _finish_call(self, event: CallFinished, parent_id: str | None) -> None:
        call = self._calls.pop(event.request_id, None) or _Call()
        end = _now()
        start = end - int((event.latency_s + event.setup_s) * 1e9)
        span = self._tracer.start_span(f"tierflow.call {event.name}", context=self._context(parent_id),
                                       kind=SpanKind.INTERNAL, start_time=start,
                                       attributes={**self._common, **self._call_attributes(event, call)})
        ctx = otel_trace.set_span_in_context(span)
        for attempt, finished_at in call.attempts:
            self._attempt_span(event, call, attempt, finished_at, ctx)
        if event.error is not None:
            span.set_status(Status(StatusCode.ERROR, event.error))
        span.end(end_time=end)

    def _call_attributes(self, event: CallFinished, call: _Call) -> dict[str, Any]:
        decision = event.decision or call.decision or {}
        attrs = drop_none({
            "tierflow.request_id": event.request_id, "tierflow.role": event.role, "tierflow.call.name": event.name,
            "tierflow.call.outcome": event.outcome, "tierflow.call.target": event.target,
            "tierflow.call.attempts": len(event.attempts), "tierflow.variant": event.variant,
            "tierflow.route.role": decision.get("role"), "gen_ai.request.stream": event.stream,
            "openinference.span.kind": "CHAIN",
            "error.type": event.error, "gen_ai.usage.cost": event.cost_usd,
            "gen_ai.response.model": event.model,
        })
        if event.usage is not None:
            attrs.update(usage_attributes(event.usage))
        return attrs

    def _attempt_span(self, event: CallFinished, call: _Call, attempt: AttemptFinished, finished_at: int,
                      ctx: Any) -> None:
        provider, host, port = self._providers.get(attempt.provider, (attempt.provider, None, None))
        answered = attempt.outcome == "ok" and attempt.target == event.target and event.outcome == "ok"
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
            "gen_ai.request.model": attempt.model, "tierflow.attempt": attempt.attempt,
            "tierflow.attempt.outcome": attempt.outcome, "tierflow.target": attempt.target,
            "tierflow.request_id": event.request_id, "gen_ai.request.stream": event.stream,
            "openinference.span.kind": "LLM", "llm.model_name": attempt.model, "llm.provider": provider,
        }
        if event.role:
            attrs["tierflow.role"] = event.role
        if event.variant:
            attrs["tierflow.variant"] = event.variant
        decision = event.decision or call.decision
        if decision and decision.get("role"):
            attrs["tierflow.route.role"] = str(decision["role"])
        attrs.update(drop_none({"server.address": host, "server.port": port}))
        if event.request is not None:
            attrs.update(request_attributes(event.request))
        if attempt.error is not None:
            attrs["error.type"] = attempt.error
        if answered:
            attrs["gen_ai.response.model"] = attempt.model
            if event.usage is not None:
                attrs.update(usage_attributes(event.usage))
                attrs["llm.token_count.prompt"] = event.usage.input_tokens
                attrs["llm.token_count.completion"] = event.usage.output_tokens
                attrs["llm.token_count.total"] = event.usage.total_tokens
            if event.cost_usd is not None:
                attrs["gen_ai.usage.cost"] = event.cost_usd
            if event.result is not None and event.result.finish_reason:
                attrs["gen_ai.response.finish_reasons"] = [event.result.finish_reason]
            if event.ttft_s is not None or call.ttft_s is not None:
                attrs["tierflow.ttft_s"] = event.ttft_s if event.ttft_s is not None else call.ttft_s
            if self.capture_content:
                attrs.update(content_attributes(event))
        start = call.starts.get(attempt.attempt, finished_at - int(attempt.duration_s * 1e9))
        span = self._tracer.start_span(f"chat {attempt.model}", context=ctx, kind=SpanKind.CLIENT,
                                       start_time=start, attributes={**self._common, **attrs})
        if attempt.error is not None:
            span.set_status(Status(StatusCode.ERROR, attempt.error))
        span.end(end_time=finished_at)
        self._record_metrics(attrs, attempt, event, answered)

    def _record_metrics(self, attrs: dict[str, Any], attempt: AttemptFinished, event: CallFinished,
                        answered: bool) -> None:
        if attempt.outcome == "skipped_cooldown":
            return
        keys = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "server.address", "error.type")
        base: dict[str, Any] = {k: attrs[k] for k in keys if k in attrs}
        self._duration.record(attempt.duration_s, base)
        if answered and event.usage is not None:
            with_model: dict[str, Any] = {**base, "gen_ai.response.model": attempt.model}
            self._tokens.record(event.usage.input_tokens, {**with_model, "gen_ai.token.type": "input"})
            self._tokens.record(event.usage.output_tokens, {**with_model, "gen_ai.token.type": "output"})
        if answered and event.stream and event.ttft_s is not None:
            self._ttfc.record(event.ttft_s, base)


__all__ = ["OTelTracer"]
