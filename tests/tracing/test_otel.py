"""OpenTelemetry GenAI spans and metrics from a traced run, through the real SDK (in-memory exporter)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tierflow.calls import Client
from tierflow.engine import Engine
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode, PromptNode
from tierflow.patterns import Cascade
from tierflow.testing import Answer, LLMTestServer, Status
from tierflow.tracing import OTelTracer


@pytest.fixture
def memory() -> tuple[InMemorySpanExporter, TracerProvider, InMemoryMetricReader, MeterProvider]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return exporter, provider, reader, MeterProvider(metric_readers=[reader])


def _tracer(memory, **kwargs) -> OTelTracer:  # type: ignore[no-untyped-def]
    _, provider, _, meters = memory
    return OTelTracer(tracer_provider=provider, meter_provider=meters, **kwargs)


def _graph(role: str = "fast", **kwargs: object) -> GraphNode:
    with GraphNode(name="qa") as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"system": "Be brief.", "user": "{query}"},
                                                   "query": PARENT["query"]})
        llm = LLMNode(name="answer", inputs={"messages": prompt["messages"]}, role=role, max_tokens=32,
                      temperature=0.2, **kwargs)
        llm["content"] >> PARENT["response"]
        START >> prompt >> llm >> END
    return g


def _by_name(exporter: InMemorySpanExporter) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


async def test_a_run_becomes_a_tree_of_genai_spans(llm_server: LLMTestServer, client: Client, memory) -> None:  # type: ignore[no-untyped-def]
    llm_server.script("fast-model", [Answer("four", input_tokens=10, output_tokens=2, cached_tokens=4)])
    tracer = _tracer(memory, tags=["multi-model"], session_id="s-1", user_id="u-1")
    await Engine(_graph(), client=client).run(query="2+2?", tracer=tracer)
    spans = _by_name(memory[0])
    assert set(spans) == {"invoke_workflow qa", "prompt prompt", "llm answer", "tierflow.call fast",
                          "chat fast-model"}
    run, node, call, chat = (spans[n][0] for n in ("invoke_workflow qa", "llm answer", "tierflow.call fast",
                                                    "chat fast-model"))
    assert run.parent is None and run.kind == SpanKind.INTERNAL
    assert node.parent.span_id == run.context.span_id
    assert call.parent.span_id == node.context.span_id and call.kind == SpanKind.INTERNAL
    assert chat.parent.span_id == call.context.span_id and chat.kind == SpanKind.CLIENT
    assert len({s.context.trace_id for s in (run, node, call, chat)}) == 1
    a = chat.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "fast-model"
    assert a["gen_ai.response.model"] == "fast-model"
    assert a["gen_ai.provider.name"] == "t"  # an OpenAI-compatible server that is not OpenAI: named by its ref
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (10, 2)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 4
    assert a["gen_ai.usage.cost"] == pytest.approx(10e-6 + 2 * 2e-6)
    assert (a["gen_ai.request.max_tokens"], a["gen_ai.request.temperature"]) == (32, 0.2)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == llm_server.port
    assert (a["tierflow.role"], a["tierflow.attempt.outcome"]) == ("fast", "ok")
    assert "gen_ai.input.messages" not in a and "input.value" not in a  # content only on opt-in
    assert run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    for s in (run, chat):
        assert s.attributes["session.id"] == "s-1" and s.attributes["user.id"] == "u-1"
        assert list(s.attributes["tag.tags"]) == ["multi-model"]
    assert node.attributes["gen_ai.usage.cost"] == pytest.approx(a["gen_ai.usage.cost"])


async def test_content_is_exported_only_when_asked(llm_server: LLMTestServer, client: Client, memory) -> None:  # type: ignore[no-untyped-def]
    llm_server.script("fast-model", [Answer("four")])
    await Engine(_graph(), client=client).run(query="2+2?", tracer=_tracer(memory, capture_content=True))
    a = _by_name(memory[0])["chat fast-model"][0].attributes
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text",
                                                                                   "content": "2+2?"}]}]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"] == "four"


async def test_a_fallback_shows_each_attempt_with_its_error(llm_server: LLMTestServer, client: Client,
                                                            memory) -> None:  # type: ignore[no-untyped-def]
    llm_server.set_default("strong-model", Status(503))
    llm_server.set_default("fast-model", Answer("ok", input_tokens=3, output_tokens=1))
    await Engine(_graph(role="strong", fallback=["fast"]), client=client).run(query="q", tracer=_tracer(memory))
    spans = _by_name(memory[0])
    failed, = spans["chat strong-model"]
    answered, = spans["chat fast-model"]
    assert failed.status.status_code == StatusCode.ERROR and failed.attributes["error.type"] == "ServerError"
    assert "gen_ai.usage.input_tokens" not in failed.attributes
    assert answered.attributes["gen_ai.usage.input_tokens"] == 3
    call, = spans["tierflow.call strong"]
    assert call.attributes["tierflow.call.attempts"] == 2 and call.attributes["tierflow.call.target"] == "t/fast-model"
    assert failed.parent.span_id == answered.parent.span_id == call.context.span_id
    assert failed.end_time <= answered.start_time


async def test_token_and_duration_histograms(llm_server: LLMTestServer, client: Client, memory) -> None:  # type: ignore[no-untyped-def]
    llm_server.script("fast-model", [Answer("x", input_tokens=7, output_tokens=5)])
    await Engine(_graph(), client=client).run(query="q", tracer=_tracer(memory))
    data = memory[2].get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"].data.data_points}
    assert tokens == {"input": 7, "output": 5}
    (duration,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert duration.count == 1 and duration.attributes["gen_ai.request.model"] == "fast-model"


async def test_a_pattern_span_holds_its_decision_and_calls(llm_server: LLMTestServer, client: Client,
                                                           memory) -> None:  # type: ignore[no-untyped-def]
    llm_server.script("fast-model", [Answer("maybe")])
    llm_server.script("strong-model", [Answer("4")])
    await Cascade(cheap="fast", strong="strong", threshold=0.9999).run("2+2?", client=client,
                                                                      tracer=_tracer(memory))
    spans = _by_name(memory[0])
    pattern, = spans["cascade cascade"]
    assert pattern.attributes["tierflow.pattern.role"] == "strong" and pattern.attributes["tierflow.pattern.escalated"]
    calls = spans["tierflow.call fast"] + spans["tierflow.call strong"]
    assert {c.parent.span_id for c in calls} == {pattern.context.span_id}


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: the worst OTLP receiver."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"
    stop.set()
    thread.join()
    for c in held:
        c.close()
    sock.close()


async def test_a_receiver_that_never_answers_costs_calls_nothing(llm_server: LLMTestServer, client: Client,
                                                                 silent_endpoint: str) -> None:
    llm_server.set_default("fast-model", Answer("ok"))
    tracer = OTelTracer(endpoint=silent_endpoint, max_queue=8, export_timeout_s=1.0)
    engine = Engine(_graph(), client=client)
    for _ in range(10):
        assert (await engine.run(query="q", tracer=tracer))["response"] == "ok"
    queued = tracer.stats()
    assert queued["exported"] == 0  # every run finished while the receiver still held the first export
    assert queued["dropped"] > 0  # 10 runs x 5 spans > 8 queued: the rest are dropped and counted
    tracer.shutdown()
    done = tracer.stats()
    assert done["exported"] == 0 and done["failed"] + done["dropped"] == 50
