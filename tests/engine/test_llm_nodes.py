"""LLM nodes through the real call layer against the loopback test server."""

from __future__ import annotations

import pytest

from tierflow.calls import Client
from tierflow.engine import Engine
from tierflow.errors import AllTargetsFailedError, NodeExecutionError
from tierflow.graph import END, PARENT, START, CodeNode, GraphNode, LLMNode, PromptNode
from tierflow.testing import Answer, LLMTestServer, Status


def _graph(**llm_kwargs) -> GraphNode:
    with GraphNode(name="llm") as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"system": "Be brief.", "user": "{query}"},
                                                   "query": PARENT["query"]})
        llm = LLMNode(name="llm", inputs={"messages": prompt["messages"]}, max_tokens=16, **llm_kwargs)
        llm["content"] >> PARENT["response"]
        llm["model_used"] >> PARENT["model_used"]
        START >> prompt >> llm >> END
    return g


async def test_llm_node_answers_and_records_model_tokens_cost(llm_server: LLMTestServer,
                                                              client: Client) -> None:
    llm_server.script("fast-model", [Answer("four", input_tokens=1000, output_tokens=500)])
    result = await Engine(_graph(resource_key="llm:fast"), client=client).run(inputs={"query": "2+2?"})
    assert result["response"] == "four"
    assert result["model_used"] == "t/fast-model"
    record = result.nodes["llm"]
    assert (record.model_used, record.input_tokens, record.output_tokens) == ("t/fast-model", 1000, 500)
    assert record.cost_usd == pytest.approx(1000 * 1e-6 + 500 * 2e-6)
    assert result.cost_usd == pytest.approx(record.cost_usd)
    sent = llm_server.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "2+2?"}]
    assert sent["max_tokens"] == 16


async def test_fallback_keys_are_tried_in_order(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.set_default("strong-model", Status(500))
    llm_server.set_default("backup-model", Status(503))
    llm_server.script("fast-model", [Answer("from fast")])
    graph = _graph(resource_key="llm:strong", fallback=["llm:backup", "fast"])
    result = await Engine(graph, client=client).run(inputs={"query": "Hello"})
    assert result["response"] == "from fast"
    assert result["model_used"] == "t/fast-model"
    attempts = [a.target for a in result.node_outputs["llm"]["call"].attempts]
    assert attempts == ["t/strong-model", "t/backup-model", "t/fast-model"]


async def test_llm_failure_names_the_node(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.set_default("strong-model", Status(500))
    with pytest.raises(NodeExecutionError) as info:
        await Engine(_graph(role="strong"), client=client).run(inputs={"query": "Hello"})
    assert info.value.node == "llm"
    assert isinstance(info.value.__cause__, AllTargetsFailedError)


async def test_parallel_llm_nodes_and_total_cost(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.set_default("strong-model", Answer("A", input_tokens=10, output_tokens=10))
    llm_server.set_default("fast-model", Answer("A", input_tokens=10, output_tokens=10))
    with GraphNode(name="pair") as g:
        p = PromptNode(name="p", inputs={"prompt": "{q}", "q": PARENT["q"]})
        a = LLMNode(name="a", role="strong", inputs={"messages": p["messages"]})
        b = LLMNode(name="b", role="fast", inputs={"messages": p["messages"]})
        agree = CodeNode(name="agree", code_fn=lambda x, y: {"same": x == y},
                         inputs={"x": a["content"], "y": b["content"]}, outputs={"same": PARENT})
        START >> p >> [a, b] >> agree >> END
    result = await Engine(g, client=client).run(q="?")
    assert result["same"] is True
    assert result.cost_usd == pytest.approx(10 * 10e-6 + 10 * 30e-6 + 10 * 1e-6 + 10 * 2e-6)
    assert result.tokens == 40
    assert set(result.models_used) == {"t/strong-model", "t/fast-model"}


_SPLIT_CONFIG = """
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: test-key}}
models:
  - {{role: current, ref: t, model: current-model}}
  - {{role: candidate, ref: t, model: candidate-model}}
  - {{role: chat, split: [{{role: current, weight: 0.5}}, {{role: candidate, weight: 0.5}}]}}
reliability: {{max_retries: 0}}
"""


async def test_an_llm_node_calls_a_split_sticky_by_its_split_key_input(llm_server: LLMTestServer) -> None:
    from tierflow.config import parse_config

    with GraphNode(name="ab") as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"user": "{query}"}, "query": PARENT["query"]})
        llm = LLMNode(name="llm", role="chat",
                      inputs={"messages": prompt["messages"], "split_key": PARENT["user"]})
        llm["model_used"] >> PARENT["model_used"]
        START >> prompt >> llm >> END
    split = parse_config(_SPLIT_CONFIG.format(base=llm_server.base_url)).registry.splits["chat"]
    async with Client(parse_config(_SPLIT_CONFIG.format(base=llm_server.base_url))) as client:
        engine = Engine(g, client=client)  # the split role passes the engine's role checks
        for user in ("u1", "u2", "u3", "u4", "u5", "u6"):
            runs = [await engine.run(inputs={"query": "hi", "user": user}) for _ in range(3)]
            calls = [r.node_outputs["llm"]["call"] for r in runs]
            assert {c.variant for c in calls} == {split.choose(user)}  # sticky per user
            assert all(c.role == "chat" for c in calls)
            assert runs[0]["model_used"] == f"t/{split.choose(user)}-model"
