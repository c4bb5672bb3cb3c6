"""The tracer API: a run's, a pattern's and a call's events reach the tracers of their span, in a tree."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tierflow.calls import Client
from tierflow.calls.events import AttemptFinished, CallFinished
from tierflow.engine import Engine
from tierflow.errors import NodeExecutionError
from tierflow.graph import END, PARENT, START, CodeNode, GraphNode, LLMNode, PromptNode
from tierflow.patterns import Cascade
from tierflow.testing import Answer, LLMTestServer, Status
from tierflow.tracing import (
    NodeFinished,
    NodeStarted,
    PatternFinished,
    PatternStarted,
    RunFinished,
    RunStarted,
    Tracer,
)

from .conftest import Recorder


def _llm_graph(name: str = "qa", role: str = "fast", **kwargs: object) -> GraphNode:
    with GraphNode(name=name) as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"user": "{query}"}, "query": PARENT["query"]})
        llm = LLMNode(name="answer", inputs={"messages": prompt["messages"]}, role=role, **kwargs)
        llm["content"] >> PARENT["response"]
        START >> prompt >> llm >> END
    return g


async def test_a_traced_run_gives_its_tree_of_events(llm_server: LLMTestServer, client: Client,
                                                     recorder: Recorder) -> None:
    llm_server.script("fast-model", [Answer("four", input_tokens=10, output_tokens=2)])
    result = await Engine(_llm_graph(), client=client).run(inputs={"query": "2+2?"}, tracer=recorder)
    assert result["response"] == "four"
    assert recorder.names() == ["RunStarted", "NodeStarted", "NodeFinished", "NodeStarted", "AttemptStarted",
                                "AttemptFinished", "CallFinished", "NodeFinished", "RunFinished"]
    (run, top), = recorder.of(RunStarted)
    assert (run.name, run.inputs, top) == ("qa", ("query",), None)
    node_ids = {e.node: (e.span_id, p) for e, p in recorder.of(NodeStarted)}
    assert node_ids == {"prompt": (f"{run.span_id}/prompt", run.span_id),
                        "answer": (f"{run.span_id}/answer", run.span_id)}
    (call, call_parent), = recorder.of(CallFinished)
    assert call_parent == f"{run.span_id}/answer" and call.model == "fast-model"
    assert (call.usage.input_tokens, call.usage.output_tokens) == (10, 2)
    answer = [e for e, _ in recorder.of(NodeFinished) if e.node == "answer"][0]
    assert (answer.outcome, answer.model_used, answer.cost_usd) == ("ok", "t/fast-model", pytest.approx(14e-6))
    (done, _), = recorder.of(RunFinished)
    assert done.outcome == "ok" and done.result is result and done.duration_s > 0
    assert client._observers == []  # the run's dispatcher is gone once the run ends


async def test_concurrent_runs_on_one_client_never_mix(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.set_default("fast-model", Answer("a"))
    engine = Engine(_llm_graph(), client=client)
    first, second = Recorder(), Recorder()
    await asyncio.gather(engine.run(query="one", tracer=first), engine.run(query="two", tracer=second),
                         engine.run(query="untraced"))
    for rec in (first, second):
        (run, _), = rec.of(RunStarted)
        (_, parent), = rec.of(CallFinished)
        assert parent == f"{run.span_id}/answer"
    assert first.of(RunStarted)[0][0].span_id != second.of(RunStarted)[0][0].span_id
    assert client._observers == []


async def test_a_failing_node_and_run_say_so_with_class_names(llm_server: LLMTestServer, client: Client,
                                                              recorder: Recorder) -> None:
    llm_server.set_default("strong-model", Status(500, "secret-detail sk-live-123"))
    with pytest.raises(NodeExecutionError):
        await Engine(_llm_graph(role="strong"), client=client).run(query="q", tracer=recorder)
    (call, _), = recorder.of(CallFinished)
    assert call.outcome == "error" and call.error == "AllTargetsFailedError"
    node = [e for e, _ in recorder.of(NodeFinished) if e.node == "answer"][0]
    assert (node.outcome, node.error) == ("error", "AllTargetsFailedError")
    (run, _), = recorder.of(RunFinished)
    assert (run.outcome, run.error, run.result) == ("error", "NodeExecutionError", None)
    assert "sk-live-123" not in repr(recorder.events)


async def test_a_standalone_pattern_records_its_decision_and_calls(llm_server: LLMTestServer, client: Client,
                                                                   recorder: Recorder) -> None:
    llm_server.script("fast-model", [Answer("maybe", input_tokens=100, output_tokens=10)])
    llm_server.script("strong-model", [Answer("4", input_tokens=100, output_tokens=10)])
    result = await Cascade(cheap="fast", strong="strong", threshold=0.9999).run("2+2?", client=client,
                                                                               tracer=recorder)
    (start, top), = recorder.of(PatternStarted)
    assert (start.pattern, top) == ("cascade", None)
    calls = recorder.of(CallFinished)
    assert [c.role for c, _ in calls] == ["fast", "strong"]
    assert {p for _, p in calls} == {start.span_id}
    (done, _), = recorder.of(PatternFinished)
    assert (done.role, done.model_used, done.escalated, done.calls) == ("strong", "t/strong-model", True, 2)
    assert done.reason == result.reason and done.cost_usd == pytest.approx(result.cost_usd)


async def test_a_pattern_node_nests_under_its_node(llm_server: LLMTestServer, client: Client,
                                                   recorder: Recorder) -> None:
    llm_server.set_default("fast-model", Answer("yes"))
    with GraphNode(name="with_pattern") as g:
        cascade = Cascade(cheap="fast", strong="strong", threshold=0.0, inputs={"messages": PARENT["query"]})
        cascade["content"] >> PARENT["response"]
        START >> cascade >> END
    await Engine(g, client=client).run(query="hi", tracer=recorder)
    (run, _), = recorder.of(RunStarted)
    (pattern, parent), = recorder.of(PatternStarted)
    assert parent == f"{run.span_id}/cascade"
    (_, call_parent), = recorder.of(CallFinished)
    assert call_parent == pattern.span_id


async def test_a_run_nested_in_a_traced_node_is_traced_beneath_it(recorder: Recorder) -> None:
    with GraphNode(name="inner") as inner_graph:
        node = CodeNode("double", lambda x: {"x": 2 * x}, inputs={"x": PARENT["x"]}, outputs={"x": "x"})
        START >> node >> END
    inner = Engine(inner_graph)

    async def call_inner(x: int) -> dict[str, int]:
        return {"x": (await inner.run(x=x))["x"]}

    with GraphNode(name="outer") as outer_graph:
        node = CodeNode("nested", call_inner, inputs={"x": PARENT["x"]}, outputs={"x": "x"})
        START >> node >> END
    assert (await Engine(outer_graph).run(x=2, tracer=recorder))["x"] == 4
    runs = recorder.of(RunStarted)
    assert [r.name for r, _ in runs] == ["outer", "inner"]
    assert runs[1][1] == f"{runs[0][0].span_id}/nested"


async def test_a_tracer_on_the_client_traces_lone_calls_once(llm_server: LLMTestServer, client: Client,
                                                             recorder: Recorder) -> None:
    llm_server.set_default("fast-model", Answer("a"))
    client.add_observer(recorder)
    await client.acall("fast", "hi")
    (_, parent), = recorder.of(CallFinished)
    assert parent is None
    await Engine(_llm_graph(), client=client).run(query="q", tracer=recorder)
    assert len(recorder.of(CallFinished)) == 2  # the run's call once, not twice
    assert recorder.of(CallFinished)[1][1] is not None


async def test_a_raising_tracer_is_logged_and_the_run_goes_on(llm_server: LLMTestServer, client: Client,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Tracer):
        def handle(self, event: object, parent_id: str | None) -> None:
            raise RuntimeError("tracer bug")

    llm_server.set_default("fast-model", Answer("fine"))
    with caplog.at_level(logging.ERROR, logger="tierflow"):
        result = await Engine(_llm_graph(), client=client).run(query="q", tracer=[Broken()])
    assert result["response"] == "fine"
    assert "tracer" in caplog.text and "RunStarted" in caplog.text


async def test_attempts_of_a_fallback_are_in_the_trace(llm_server: LLMTestServer, client: Client,
                                                       recorder: Recorder) -> None:
    llm_server.set_default("strong-model", Status(503))
    llm_server.set_default("fast-model", Answer("ok"))
    await Engine(_llm_graph(role="strong", fallback=["fast"]), client=client).run(query="q", tracer=recorder)
    attempts = [(a.target, a.outcome) for a, _ in recorder.of(AttemptFinished)]
    assert attempts[0][0] == "t/strong-model" and attempts[0][1] != "ok"
    assert attempts[-1] == ("t/fast-model", "ok")


def test_tracer_settings_are_kept() -> None:
    t = Tracer(tags=["multi-model"], session_id="s1", user_id="u1", metadata={"team": "support"})
    assert (t.tags, t.session_id, t.user_id, t.metadata) == (("multi-model",), "s1", "u1", {"team": "support"})
