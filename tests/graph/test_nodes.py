"""The Python graph API: edges, fan-out/in, soft joins, refs, conditions and their IR form."""

from __future__ import annotations

import pytest

from tierflow.engine import Engine, Hush
from tierflow.errors import GraphBuildError
from tierflow.graph import (
    END,
    PARENT,
    START,
    Branch,
    CodeNode,
    GraphNode,
    LLMNode,
    PromptNode,
)
from tierflow.ir import END_ID, START_ID, IREdge, IRRef


def test_rshift_chains_fan_out_fan_in_and_soft_edges() -> None:
    with GraphNode(name="shape") as g:
        a, b, c, d = (CodeNode(name=n, code_fn=lambda **_: {}) for n in "abcd")
        START >> a >> [b, c] >> ~d
        d >> END
    edges = set(g.to_ir().edges)
    assert edges == {IREdge(START_ID, "a"), IREdge("a", "b"), IREdge("a", "c"),
                     IREdge("b", "d", soft=True), IREdge("c", "d", soft=True), IREdge("d", END_ID)}


def test_conditions_lower_to_ir_json() -> None:
    with GraphNode(name="cond") as g:
        n = CodeNode(name="n", code_fn=lambda: {"content": "x", "score": 3}, returns=["content", "score"])
        r = (Branch("r").if_(n["content"].contains("COMPLEX") & ~(n["score"] >= 7), "a")
             .if_((n["score"] == 1) | n["content"].startswith("Q"), "b").otherwise("c"))
        a, b, c = (CodeNode(name=x, code_fn=dict) for x in "abc")
        START >> n >> r >> [a, b, c]
        [a, b, c] >> ~END
    cases = g.to_ir().node("r").config["cases"]
    assert cases[0]["when"] == {"op": "and", "args": [
        {"op": "contains", "left": {"ref": ["n", "content"]}, "right": {"value": "COMPLEX"}},
        {"op": "not", "arg": {"op": "ge", "left": {"ref": ["n", "score"]}, "right": {"value": 7}}}]}
    assert cases[1]["when"]["op"] == "or"
    engine = Engine(g)
    assert engine.run_sync().node_outputs["r"] == {"target": "c"}  # "x" has no COMPLEX; score 3


def test_llm_node_role_forms_and_output_mapping() -> None:
    with GraphNode(name="llm") as g:
        p = PromptNode(name="p", system="Be brief.", user="{q}", inputs={"q": PARENT["q"]})
        llm = LLMNode(name="llm", resource_key="llm:fast", fallback=["llm:backup", "openai/gpt-4o", "strong"],
                      temperature=0.1, inputs={"messages": p["messages"]})
        llm["content"] >> PARENT["response"]
        START >> p >> llm >> END
    node = g.to_ir().node("llm")
    assert node.config == {"llm_role": "fast", "fallback": ["backup", "openai/gpt-4o", "strong"],
                           "temperature": 0.1}
    assert node.inputs == {"messages": IRRef("p", "messages")}
    assert node.outputs == {"content": "response"}
    assert LLMNode(name="x", role="fast").role == "fast" and LLMNode(name="y").role is None


def test_star_output_forwarding_and_hush_alias() -> None:
    with GraphNode(name="star") as g:
        n = CodeNode(name="n", code_fn=lambda q: {"a": q, "b": 2}, inputs={"q": PARENT["q"]},
                     outputs={"*": PARENT})
        START >> n >> END
    assert g.to_ir().node("n").outputs == {"*": "*"}
    assert dict(Hush(g).run_sync({"q": 1})) == {"a": 1, "b": 2}


def test_misuse_is_a_clear_type_error() -> None:
    with GraphNode(name="misuse"):
        n = CodeNode(name="n", code_fn=dict)
        with pytest.raises(TypeError, match="no value while the graph is being built"):
            bool(n["x"])
        with pytest.raises(TypeError, match="& | ~"):
            bool(n["x"] > 1)
        with pytest.raises(TypeError, match="PARENT"):
            n["x"] >> n["y"]
        with pytest.raises(TypeError, match="cannot end an edge"):
            n >> "other"
        with pytest.raises(TypeError, match="code_fn must be a function"):
            CodeNode(name="bad", code_fn=None)
        with pytest.raises(TypeError, match="resource_key or role"):
            LLMNode(name="both", resource_key="llm:a", role="b")
        START >> n >> END


SEED_BRANCH = """
with GraphNode(name="cascading-pipeline") as graph:
    classify = CodeNode(name="classify", code_fn=lambda: {"content": "SIMPLE"}, returns=["content"])
    router = (Branch("complexity_router")
        .if_(classify["content"].contains("COMPLEX"), "complex_handler")
        .otherwise("simple_handler"))
    simple_prompt = CodeNode(name="simple_prompt", code_fn=lambda: {})
    complex_prompt = CodeNode(name="complex_prompt", code_fn=lambda: {})
    START >> classify >> router
    router >> [simple_prompt, complex_prompt]
    [simple_prompt, complex_prompt] >> ~END
"""


def test_seed_branch_targets_that_name_no_node_are_reported() -> None:
    # Seed 004's examples name branch targets ("complex_handler") that are not nodes; tierflow
    # reports each one instead of silently never taking that arm.
    scope = {"GraphNode": GraphNode, "CodeNode": CodeNode, "Branch": Branch, "START": START, "END": END}
    with pytest.raises(GraphBuildError) as info:
        exec(SEED_BRANCH, scope)  # noqa: S102 - the seed's text, run as written
    text = str(info.value)
    assert "targets unknown node 'complex_handler' (did you mean 'complex_prompt'?)" in text
    assert "targets unknown node 'simple_handler' (did you mean 'simple_prompt'?)" in text
    assert "never selects 'simple_prompt'" in text
