"""Build-time validation: every problem at once, each naming the node/edge and the fix."""

from __future__ import annotations

import random

import pytest

from tierflow.engine import Engine
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
from tierflow.graph.validation import validate
from tierflow.ir import END_ID, START_ID, IREdge, IRModule, IRNode, IRRef


def _problems(build) -> list[str]:
    with pytest.raises(GraphBuildError) as info:
        build()
    return [str(p) for p in info.value.problems]


def _one(**kw) -> CodeNode:
    return CodeNode(code_fn=lambda **_: {"v": 1}, **kw)


def test_valid_graph_has_no_problems() -> None:
    with GraphNode(name="ok") as g:
        a = _one(name="a")
        START >> a >> END
    assert validate(g.to_ir()) == []


def test_unknown_branch_target_suggests_the_close_name() -> None:
    def build() -> None:
        with GraphNode(name="g"):
            r = Branch("r").if_(PARENT["x"] > 1, "complex_handlr").otherwise("simple")
            c = _one(name="complex_handler")
            s = _one(name="simple")
            START >> r >> [c, s]
            [c, s] >> ~END
    problems = _problems(build)
    assert any("'complex_handlr'" in p and "did you mean 'complex_handler'" in p for p in problems)


def test_unknown_edge_target_in_ir() -> None:
    module = IRModule(name="m", models=[], nodes=[IRNode(START_ID, "entry"), IRNode("a", "code", fn=dict),
                                                  IRNode(END_ID, "exit")],
                      edges=[IREdge(START_ID, "a"), IREdge("a", "b"), IREdge("a", END_ID)])
    problems = [str(p) for p in validate(module)]
    assert any("edge a >> b" in p and "'b' is not a node" in p for p in problems)


def test_all_problems_reported_at_once() -> None:
    def build() -> None:
        with GraphNode(name="many"):
            a = _one(name="a")
            b = CodeNode(name="b", code_fn=lambda x: {}, inputs={"x": a["v"]})
            orphan = _one(name="orphan")
            dead_end = _one(name="dead_end")
            START >> a >> b >> END
            a >> dead_end
            del orphan
            r = Branch("r").if_(a["missing_key"] == 1, "nowhere")
            a >> r
    problems = _problems(build)
    joined = "\n".join(problems)
    assert "'orphan'" in joined and "unreachable" in joined
    assert "'dead_end'" in joined and "no path to END" in joined
    assert "'nowhere'" in joined
    assert len(problems) >= 4


def test_input_referencing_missing_node_and_missing_output() -> None:
    def build() -> None:
        with GraphNode(name="refs"):
            p = PromptNode(name="p", inputs={"prompt": {"user": "{q}"}, "q": PARENT["q"]})
            llm = LLMNode(name="llm", role="fast", inputs={"messages": p["mesages"]})
            START >> p >> llm >> END
    problems = _problems(build)
    assert any("node 'llm' input 'messages'" in p and "p['mesages']" in p and "['messages']" in p
               for p in problems)


def test_branch_condition_referencing_missing_output() -> None:
    def build() -> None:
        with GraphNode(name="cond"):
            p = PromptNode(name="p", inputs={"prompt": "{q}", "q": PARENT["q"]})
            llm = LLMNode(name="llm", role="fast", inputs={"messages": p["messages"]})
            r = Branch("r").if_(llm["contnet"].contains("X"), "a").otherwise("b")
            a, b = _one(name="a"), _one(name="b")
            START >> p >> llm >> r >> [a, b]
            [a, b] >> ~END
    problems = _problems(build)
    assert any("node 'r' case 0 condition" in p and "llm['contnet']" in p for p in problems)


def test_reading_a_node_that_does_not_run_before() -> None:
    def build() -> None:
        with GraphNode(name="order"):
            a = _one(name="a")
            b = CodeNode(name="b", code_fn=lambda x: {}, inputs={"x": a["v"]})
            START >> [a, b] >> END
    problems = _problems(build)
    assert any("'a' does not run before 'b'" in p for p in problems)


def test_no_path_to_end() -> None:
    def build() -> None:
        with GraphNode(name="noend"):
            a = _one(name="a")
            START >> a
    problems = _problems(build)
    assert any(p.startswith("END:") and "no path" in p for p in problems)


def test_cycle_is_reported_with_its_path() -> None:
    def build() -> None:
        with GraphNode(name="cyc"):
            a, b = _one(name="a"), _one(name="b")
            START >> a >> b >> a
            b >> END
    problems = _problems(build)
    assert any("cycle" in p and "a -> b -> a" in p for p in problems)


def test_hard_join_after_branch_says_where_soft_is_needed() -> None:
    def build() -> None:
        with GraphNode(name="deadlock"):
            r = Branch("r").if_(PARENT["x"] > 1, "a").otherwise("b")
            a, b = _one(name="a"), _one(name="b")
            merge = CodeNode(name="merge", code_fn=lambda x=None, y=None: {},
                             inputs={"x": a["v"], "y": b["v"]})
            START >> r >> [a, b]
            [a, b] >> merge >> END
    problems = _problems(build)
    assert any("node 'merge'" in p and "wait forever" in p and "[a, b] >> ~merge" in p
               for p in problems)


def test_two_writers_without_reducer() -> None:
    def build() -> None:
        with GraphNode(name="writers"):
            a = CodeNode(name="a", code_fn=lambda: {"v": 1}, outputs={"v": PARENT["out"]})
            b = CodeNode(name="b", code_fn=lambda: {"v": 2}, outputs={"v": PARENT["out"]})
            START >> [a, b] >> END
    problems = _problems(build)
    assert any("'a' and 'b'" in p and "'out'" in p and "reducer" in p for p in problems)


def test_writers_on_exclusive_arms_are_fine() -> None:
    with GraphNode(name="exclusive") as g:
        r = Branch("r").if_(PARENT["x"] > 1, "a").otherwise("b")
        a = CodeNode(name="a", code_fn=lambda: {"v": 1}, outputs={"v": PARENT["out"]})
        b = CodeNode(name="b", code_fn=lambda: {"v": 2}, outputs={"v": PARENT["out"]})
        START >> r >> [a, b]
        [a, b] >> ~END
    assert Engine(g).run_sync(x=5)["out"] == 1


def test_branch_edge_to_node_no_case_selects() -> None:
    def build() -> None:
        with GraphNode(name="stray"):
            r = Branch("r").if_(PARENT["x"] > 1, "a")
            a, c = _one(name="a"), _one(name="c")
            START >> r >> [a, c]
            [a, c] >> ~END
    assert any("never selects 'c'" in p for p in _problems(build))


def test_prompt_placeholder_without_input_and_function_signature() -> None:
    def build() -> None:
        with GraphNode(name="sig"):
            p = PromptNode(name="p", inputs={"prompt": {"user": "{query} {ctx}"}, "query": PARENT["q"]})
            c = CodeNode(name="c", code_fn=lambda text: {}, inputs={"txt": p["messages"]})
            START >> p >> c >> END
    problems = _problems(build)
    assert any("{ctx}" in p for p in problems)
    assert any("node 'c' input 'txt'" in p for p in problems)
    assert any("required parameter 'text'" in p for p in problems)


def test_duplicate_node_names() -> None:
    def build() -> None:
        with GraphNode(name="dup"):
            a = _one(name="a")
            _one(name="a")
            START >> a >> END
    assert any("node 'a'" in p and "unique" in p for p in _problems(build))


def test_unknown_role_is_a_build_error_against_the_registry(tmp_path) -> None:
    from tierflow.calls import Client
    from tierflow.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers: {t: {kind: openai, base_url: 'http://127.0.0.1:9/v1', api_key: k}}\n"
                   "models: [{role: fast, ref: t, model: m}]\n")
    with GraphNode(name="roles") as g:
        p = PromptNode(name="p", inputs={"prompt": "{q}", "q": PARENT["q"]})
        llm = LLMNode(name="llm", resource_key="llm:strong", fallback=["llm:fast", "llm:gemini"],
                      inputs={"messages": p["messages"]})
        START >> p >> llm >> END
    with pytest.raises(GraphBuildError) as info:
        Engine(g, client=Client(load_config(cfg)))
    problems = {p.where: p.message for p in info.value.problems}
    assert set(problems) == {"node 'llm' llm_role", "node 'llm' fallback[1]"}  # 'fast' is declared
    assert "role 'strong' is not declared (declared: ['fast'])" in problems["node 'llm' llm_role"]
    assert "role 'gemini' is not declared" in problems["node 'llm' fallback[1]"]


def test_ir_refs_from_flow_files_get_the_same_diagnostics() -> None:
    module = IRModule(name="flow", models=[], nodes=[
        IRNode(START_ID, "entry"),
        IRNode("p", "prompt", config={"user": "{q}"}, inputs={"q": IRRef("__parent__", "q")}),
        IRNode("llm", "llm", config={"llm_role": "fast"}, inputs={"messages": IRRef("prompt", "messages")}),
        IRNode(END_ID, "exit")],
        edges=[IREdge(START_ID, "p"), IREdge("p", "llm"), IREdge("llm", END_ID)])
    with pytest.raises(GraphBuildError) as info:
        Engine(module)
    assert "no node 'prompt'" in str(info.value) and "known nodes: ['llm', 'p']" in str(info.value)


def _arms_by_edge_removal(module, plain):
    """The definition of branch arms, computed the slow way: a node is on arm (b, t) when removing
    the edge b -> t makes it unreachable from START."""
    from tierflow.graph.structure import _reach, branch_targets

    reachable = _reach(START_ID, plain)
    owned = {n: {} for n in plain}
    for node in module.nodes:
        if node.kind != "branch" or node.id not in reachable:
            continue
        for target in branch_targets(node):
            for n in reachable - _reach(START_ID, plain, skip=(node.id, target)):
                if n != node.id:
                    owned[n][node.id] = target
    return owned


def test_branch_arms_match_their_definition_on_random_graphs() -> None:
    import random

    from tierflow.graph.structure import arms, successors
    from tierflow.ir import IREdge, IRModule, IRNode

    rng = random.Random(11)
    checked_arms = 0
    for _ in range(300):
        ids = [f"n{i}" for i in range(rng.randint(3, 30))]
        nodes, edges = [IRNode(START_ID, "entry"), IRNode(END_ID, "exit")], []
        for i, nid in enumerate(ids):
            later = ids[i + 1:]
            if len(later) >= 2 and rng.random() < 0.3:
                a, b = rng.sample(later, 2)
                nodes.append(IRNode(nid, "branch", config={"cases": [{"when": {"op": "const", "value": True},
                                                                        "target": a}], "otherwise": b}))
            else:
                nodes.append(IRNode(nid, "code"))
            edges += [IREdge(nid, t) for t in rng.sample(later, min(len(later), rng.choice([0, 1, 2])))]
            edges.append(IREdge(nid, END_ID))
        edges += [IREdge(START_ID, t) for t in rng.sample(ids, min(2, len(ids)))]
        module = IRModule("random", [], nodes, edges)
        plain = {k: [t for t, _ in v] for k, v in successors(module).items()}
        expected = _arms_by_edge_removal(module, plain)
        assert arms(module, plain) == expected
        checked_arms += sum(len(v) for v in expected.values())
    assert checked_arms > 100  # the random graphs really exercise branch arms


def _ab_test(condition_of) -> None:  # noqa: ANN001 - a function of the classify node
    with GraphNode(name="ab"):
        classify = _one(name="classify")
        new, old = _one(name="new_model"), _one(name="old_model")
        ab = Branch("ab_test").if_(condition_of(classify), "new_model").otherwise("old_model")
        START >> classify >> ab
        ab >> [new, old]
        [new, old] >> ~_one(name="merge") >> END


@pytest.mark.parametrize("condition_of", [
    lambda _c: random.random() < 0.1,                      # the seed's A/B test: a bool decided at build time
    lambda _c: True,
    lambda c: c["v"].truthy() & (random.random() < 2),     # a constant hidden inside a real condition
])
def test_a_condition_decided_at_build_time_is_refused(condition_of) -> None:  # noqa: ANN001
    (problem,) = _problems(lambda: _ab_test(condition_of))
    assert problem.startswith("branch 'ab_test' case 0: the condition is a constant, decided once when the graph "
                              "was built")
    assert "split role (see README" in problem


def test_a_condition_that_reads_no_node_output_is_refused() -> None:
    module = IRModule(name="ir", models=[], nodes=[
        IRNode(START_ID, "entry"),
        IRNode("b", "branch", config={"cases": [{"when": {"op": "eq", "left": {"value": 1}, "right": {"value": 1}},
                                                 "target": "x"}], "otherwise": "y"}),
        IRNode("x", "join"), IRNode("y", "join"), IRNode(END_ID, "exit")],
        edges=[IREdge(START_ID, "b"), IREdge("b", "x"), IREdge("b", "y"), IREdge("x", END_ID, True),
               IREdge("y", END_ID, True)])
    found = [str(p) for p in validate(module)]
    assert any(p.startswith("branch 'b' case 0: the condition reads no node output or run input") for p in found)


def test_conditions_over_node_outputs_and_inputs_are_accepted() -> None:
    _ab_test(lambda c: c["v"] > 3)
    _ab_test(lambda _c: PARENT["bucket"] == "b")


def test_the_readme_says_what_a_split_role_is(repo_root) -> None:  # noqa: ANN001 - the conftest fixture
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    workflows = readme[readme.index("### Workflows"):readme.index("### Flow files")]
    assert "*split role*" in workflows and "random.random() < 0.1" in workflows
