"""The console tracer prints each trace's tree with models, tokens, cost and latency."""

from __future__ import annotations

import io

from tierflow.calls import Client
from tierflow.engine import Engine
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode, PromptNode
from tierflow.patterns import Cascade
from tierflow.testing import Answer, LLMTestServer, Status
from tierflow.tracing import ConsoleTracer


def _graph() -> GraphNode:
    with GraphNode(name="support") as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"user": "{query}"}, "query": PARENT["query"]})
        llm = LLMNode(name="answer", inputs={"messages": prompt["messages"]}, role="strong", fallback=["fast"])
        llm["content"] >> PARENT["response"]
        START >> prompt >> llm >> END
    return g


async def test_a_run_prints_as_a_tree_with_tokens_cost_and_attempts(llm_server: LLMTestServer,
                                                                    client: Client) -> None:
    llm_server.set_default("strong-model", Status(503))
    llm_server.set_default("fast-model", Answer("ok", input_tokens=1000, output_tokens=500))
    out = io.StringIO()
    await Engine(_graph(), client=client).run(query="q", tracer=ConsoleTracer(out))
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith("run support  ok | 1 call | 1000+500 tokens | $0.002000 | ")
    assert "node prompt (prompt)  ok" in text
    assert "node answer (llm)  ok | 1 call | 1000+500 tokens | $0.002000" in text
    assert "call strong -> t/fast-model  ok | 1000+500 tokens | $0.002000" in text
    assert "attempt t/strong-model  error ServerError HTTP 503" in text
    assert "attempt t/fast-model  ok" in text
    depth = {name: next(len(ln) - len(ln.lstrip("│├└─ ")) for ln in lines if name in ln)
             for name in ("node answer", "call strong", "attempt t/fast-model")}
    assert depth["node answer"] < depth["call strong"] < depth["attempt t/fast-model"]


async def test_a_pattern_prints_its_decision(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("maybe", input_tokens=100, output_tokens=10)])
    llm_server.script("strong-model", [Answer("4", input_tokens=100, output_tokens=10)])
    out = io.StringIO()
    await Cascade(cheap="fast", strong="strong", threshold=0.9999).run("2+2?", client=client,
                                                                      tracer=ConsoleTracer(out))
    first = out.getvalue().splitlines()[0]
    assert first.startswith("cascade cascade  ok | answered by strong (t/strong-model) | escalated | ")
    assert "| 2 calls | 200+20 tokens | $0.001420 |" in first


async def test_a_lone_call_prints_when_the_tracer_observes_the_client(llm_server: LLMTestServer,
                                                                      client: Client) -> None:
    llm_server.set_default("fast-model", Answer("hi", input_tokens=3, output_tokens=1))
    out = io.StringIO()
    client.add_observer(ConsoleTracer(out))
    await client.acall("fast", "hello")
    assert out.getvalue().startswith("call fast -> t/fast-model  ok | 3+1 tokens | $0.000005 | ")
