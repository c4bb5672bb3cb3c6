"""A flow file and the equivalent Python-API graph lower to the same IR."""

from __future__ import annotations

from typing import Any

from tierflow.flowfile import lower_flow, parse_flow_data
from tierflow.graph import END, PARENT, START, Branch, CodeNode, GraphNode, LLMNode, PromptNode
from tierflow.ir import IRModule


def shape(module: IRModule) -> tuple[dict[str, Any], set[tuple[str, str, bool]]]:
    """What the engine runs: per node kind, config, inputs, outputs; and the edges."""
    nodes = {n.id: (n.kind, n.config, n.inputs, n.outputs) for n in module.nodes}
    return nodes, {(e.source, e.target, e.soft) for e in module.edges}


def shout(text: str | None = None) -> dict[str, str]:
    return {"loud": (text or "").upper()}


FLOW = {
    "schema_version": 1,
    "config": {"core_identity": {"name": "cascade", "models": [
        {"role": "primary", "ref": "openai", "model": "gpt-4o"},
        {"role": "fast", "ref": "openai", "model": "gpt-4o-mini"}]}},
    "nodes": [
        {"id": "start", "kind": "entry"},
        {"id": "classify_prompt", "kind": "prompt", "config": {"system": "SIMPLE or COMPLEX?", "user": "{query}"}},
        {"id": "classify", "kind": "llm", "config": {"llm_role": "fast", "max_tokens": 4}},
        {"id": "router", "kind": "branch"},
        {"id": "simple_prompt", "kind": "prompt", "config": {"user": "{query}"}},
        {"id": "simple_llm", "kind": "llm", "config": {"llm_role": "fast"}},
        {"id": "complex_prompt", "kind": "prompt", "config": {"system": "Think hard.", "user": "{query}"}},
        {"id": "complex_llm", "kind": "llm", "config": {"llm_role": "primary", "fallback": ["fast"]}},
        {"id": "merge", "kind": "code",
         "config": {"callable": f"{__name__}:shout"},
         "inputs": {"text": {"ref": "complex_llm.content"}}, "outputs": {"loud": "response"}},
        {"id": "end", "kind": "exit"},
    ],
    "edges": [
        {"source": "start", "target": "classify_prompt"}, {"source": "classify_prompt", "target": "classify"},
        {"source": "classify", "target": "router"},
        {"source": "router", "target": "complex_prompt", "condition": "classify.content.contains('COMPLEX')"},
        {"source": "router", "target": "simple_prompt"},
        {"source": "simple_prompt", "target": "simple_llm"}, {"source": "complex_prompt", "target": "complex_llm"},
        {"source": "simple_llm", "target": "merge", "soft": True},
        {"source": "complex_llm", "target": "merge", "soft": True},
        {"source": "merge", "target": "end"},
    ],
}


def python_graph() -> IRModule:
    with GraphNode(name="cascade") as graph:
        classify_prompt = PromptNode("classify_prompt", inputs={
            "prompt": {"system": "SIMPLE or COMPLEX?", "user": "{query}"}, "query": PARENT["query"]})
        classify = LLMNode("classify", role="fast", max_tokens=4, inputs={"messages": classify_prompt["messages"]})
        router = (Branch("router").if_(classify["content"].contains("COMPLEX"), "complex_prompt")
                  .otherwise("simple_prompt"))
        simple_prompt = PromptNode("simple_prompt", inputs={"prompt": {"user": "{query}"}, "query": PARENT["query"]})
        simple_llm = LLMNode("simple_llm", resource_key="llm:fast", inputs={"messages": simple_prompt["messages"]})
        complex_prompt = PromptNode("complex_prompt", inputs={
            "prompt": {"system": "Think hard.", "user": "{query}"}, "query": PARENT["query"]})
        complex_llm = LLMNode("complex_llm", role="primary", fallback=["fast"],
                              inputs={"messages": complex_prompt["messages"]})
        merge = CodeNode("merge", shout, inputs={"text": complex_llm["content"]}, outputs={"loud": "response"})
        START >> classify_prompt >> classify >> router
        router >> [simple_prompt, complex_prompt]
        simple_prompt >> simple_llm
        complex_prompt >> complex_llm
        [simple_llm, complex_llm] >> ~merge
        merge >> END
    return graph.to_ir()


def test_flow_file_and_python_graph_lower_to_the_same_ir() -> None:
    from_file = lower_flow(parse_flow_data(FLOW))
    assert shape(from_file) == shape(python_graph())
    assert from_file.node("router").config["cases"][0]["when"] == {
        "op": "contains", "left": {"ref": ["classify", "content"]}, "right": {"value": "COMPLEX"}}
