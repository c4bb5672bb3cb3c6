"""Lowering flow files to IR, and every diagnostic of an invalid flow."""

from __future__ import annotations

from typing import Any

import pytest

from tierflow.errors import FlowCompileError
from tierflow.flowfile import lower_flow, parse_flow_data
from tierflow.ir import END_ID, PARENT_ID, START_ID, IREdge, IRRef

SEED_TEXT = """llm_role validation failed
  node 'node_xyz': llm_role='fastt' is not declared in
  flow.config.core_identity.models (declared: ['fast', 'primary'])"""


def lower(data: dict[str, Any]) -> Any:
    return lower_flow(parse_flow_data(data), source="flow.json")


def problems_of(data: dict[str, Any]) -> list[Any]:
    with pytest.raises(FlowCompileError) as info:
        lower(data)
    return info.value.problems


def test_minimal_flow_lowers_to_the_ir(minimal_flow: dict[str, Any]) -> None:
    module = lower(minimal_flow)
    assert [n.id for n in module.nodes] == [START_ID, "ask", "answer", END_ID]
    assert module.edges == [IREdge(START_ID, "ask"), IREdge("ask", "answer"), IREdge("answer", END_ID)]
    assert module.registry.roles == ["primary", "fast"]
    answer = module.node("answer")
    assert answer.config == {"llm_role": "fast", "fallback": []}
    assert answer.inputs == {"messages": IRRef("ask", "messages")}  # from its one prompt predecessor
    assert answer.outputs == {"content": "answer"}
    assert module.node("ask").inputs == {"question": IRRef(PARENT_ID, "question")}  # placeholder default
    assert module.node(START_ID).meta["flow_id"] == "start"


def test_unknown_role_gives_the_seed_text_word_for_word(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][2]["id"] = "node_xyz"
    minimal_flow["nodes"][2]["config"]["llm_role"] = "fastt"
    minimal_flow["edges"][1]["target"] = minimal_flow["edges"][2]["source"] = "node_xyz"
    with pytest.raises(FlowCompileError) as info:
        lower(minimal_flow)
    (problem,) = info.value.problems
    # the seed text, then what is wrong and the fix in plain words, then the near miss
    assert problem.message == SEED_TEXT + ("\n  role 'fastt' is not declared in the registry (models): declare it or "
                                           "pick one of: primary, fast\n  did you mean 'fast'?")
    assert problem.where == "node 'node_xyz' (nodes[2]).config.llm_role"
    assert SEED_TEXT in str(info.value)


def test_removed_role_matches_the_tutorial_text(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["config"]["core_identity"]["models"].pop()  # remove `fast`, still referenced
    (problem,) = problems_of(minimal_flow)
    assert problem.message == ("llm_role validation failed\n"
                               "  node 'answer': llm_role='fast' is not declared in\n"
                               "  flow.config.core_identity.models (declared: ['primary'])\n"
                               "  role 'fast' is not declared in the registry (models): declare it or pick one of: "
                               "primary")


def test_legacy_model_alias_and_canonical_precedence(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][2]["config"] = {"model": "fast"}
    assert lower(minimal_flow).node("answer").config["llm_role"] == "fast"
    minimal_flow["nodes"][2]["config"] = {"llm_role": "primary", "model": "fast"}
    assert lower(minimal_flow).node("answer").config["llm_role"] == "primary"
    minimal_flow["nodes"][2]["config"] = {"model": "fastt"}
    (problem,) = problems_of(minimal_flow)
    assert problem.where.endswith(".config.model") and "model='fastt' is not declared" in problem.message


def test_node_without_role_uses_the_first_entry(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][2]["config"] = {}
    assert lower(minimal_flow).node("answer").config["llm_role"] == "primary"


def test_every_problem_is_collected_at_once(minimal_flow: dict[str, Any]) -> None:
    models = minimal_flow["config"]["core_identity"]["models"]
    models[1]["temperature"] = 3.5                                          # registry problem
    minimal_flow["nodes"][2]["config"] = {"llm_role": "fastt", "fallback": ["nope"]}
    minimal_flow["nodes"].insert(3, {"id": "orphan", "kind": "prompt", "config": {"user": "hi"}})
    minimal_flow["edges"].append({"source": "answer", "target": "ghost"})  # unknown target
    minimal_flow["edges"].append({"source": "ask", "target": "end", "condition": "a.b == 1"})
    problems = problems_of(minimal_flow)
    text = "\n".join(str(p) for p in problems)
    assert "config.core_identity.models[1] (role 'fast').temperature" in text
    assert "llm_role='fastt' is not declared" in text
    assert "'nope' is neither a declared role" in text
    assert "only edges leaving a branch node carry a condition" in text
    assert "'ghost' is not a node of the graph" in text          # from the shared IR validator
    assert "node 'orphan'" in text and "unreachable" in text
    assert len(problems) >= 6


def test_entry_and_exit_are_required_and_unique(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"] = [n for n in minimal_flow["nodes"] if n["kind"] != "exit"]
    minimal_flow["nodes"].append({"id": "start2", "kind": "entry"})
    text = "\n".join(str(p) for p in problems_of(minimal_flow))
    assert "the flow has no exit node" in text
    assert "node 'start2' (nodes[3]): a flow has exactly one entry node (the first is 'start')" in text


def test_reserved_ids_are_refused(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][1]["id"] = "input"
    minimal_flow["edges"][0]["target"] = minimal_flow["edges"][1]["source"] = "input"
    text = "\n".join(str(p) for p in problems_of(minimal_flow))
    assert "the id 'input' is reserved" in text


def test_references_lower_to_ir_refs(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][1]["inputs"] = {"question": {"ref": "start.q"}, "n": 3}
    module = lower(minimal_flow)
    assert module.node("ask").inputs == {"question": IRRef(PARENT_ID, "q"), "n": 3}
    minimal_flow["nodes"][1]["inputs"] = {"question": {"ref": "nodot"}}
    (problem,) = problems_of(minimal_flow)
    assert problem.where == "node 'ask' (nodes[1]).inputs.question"
    assert 'expected {"ref": "node_id.key"}' in problem.message


def test_prompt_placeholders_must_be_inputs_or_variables(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["variables"] = {"question": {"type": "string"}}
    minimal_flow["nodes"][1]["config"]["user"] = "{question} {tone}"
    (problem,) = problems_of(minimal_flow)
    assert problem.where == "node 'ask' (nodes[1]).config.user"
    assert "placeholder {tone}" in problem.message and "['question']" in problem.message
    minimal_flow["nodes"][1]["config"]["user"] = "{question"
    (problem,) = problems_of(minimal_flow)
    assert "bad template" in problem.message


def test_llm_needs_messages(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][1] = {"id": "ask", "kind": "code", "config": {"callable": "m:f"}}
    (problem,) = problems_of(minimal_flow)   # one problem, not one per validator
    assert problem.where == "node 'answer' (nodes[2]).inputs.messages"
    assert "connect exactly one prompt node before it" in problem.message


def test_branch_conditions_lower_to_cases(all_kinds_flow: dict[str, Any]) -> None:
    route = lower(all_kinds_flow).node("route")
    assert route.config == {
        "cases": [{"when": {"op": "and", "args": [
            {"op": "contains", "left": {"ref": ["answer", "content"]}, "right": {"value": "long"}},
            {"op": "ne", "left": {"ref": [PARENT_ID, "mode"]}, "right": {"value": "fast"}}]},
            "target": "deep"}],
        "otherwise": "merge"}


def test_branch_problems_name_the_edge(all_kinds_flow: dict[str, Any]) -> None:
    all_kinds_flow["edges"][4]["condition"] = "'long' in answr.content"
    all_kinds_flow["edges"][5]["condition"] = None
    all_kinds_flow["edges"].append({"source": "route", "target": "end"})
    text = "\n".join(str(p) for p in problems_of(all_kinds_flow))
    assert "edges[4] (route -> deep).condition: refers to 'answr', which is not a node" in text
    assert "2 outgoing edges have no condition (['merge', '__end__'])" in text


def test_llm_settings_and_dsl_metadata_are_kept(all_kinds_flow: dict[str, Any]) -> None:
    node = lower(all_kinds_flow).node("answer")
    assert node.config == {"llm_role": "fast", "fallback": ["primary", "openai/gpt-4o"],
                           "temperature": 0.3, "max_tokens": 32}
    assert node.meta["dsl"] == {"style": "guarded", "goal": "Answer.", "guard": "confidence > 0.7",
                                "validate": "result.length > 0"}
    assert node.meta["ui"] == {"color": "#ffcc00", "collapsed": False}


def test_missing_entry_is_reported_without_echoes(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"].pop(0)
    minimal_flow["edges"].pop(0)
    (problem,) = problems_of(minimal_flow)
    assert problem.where == "nodes" and "the flow has no entry node" in problem.message


def test_cycles_come_from_the_shared_validator(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["edges"].append({"source": "answer", "target": "ask"})
    (problem,) = problems_of(minimal_flow)
    assert problem.where == "cycle ask -> answer -> ask"


@pytest.mark.parametrize("condition", ["True", "1 == 1", {"op": "const", "value": True}])
def test_a_branch_condition_that_reads_nothing_is_refused_on_its_edge(condition: Any,
                                                                      all_kinds_flow: dict[str, Any]) -> None:
    all_kinds_flow["edges"][4]["condition"] = condition
    problems = {p.where: p.message for p in problems_of(all_kinds_flow)}
    message = problems["edges[4] (route -> deep).condition"]
    assert "every run takes the same arm" in message and "split role (see README" in message
    assert not any(w.startswith("branch") for w in problems)  # said once, on the edge
