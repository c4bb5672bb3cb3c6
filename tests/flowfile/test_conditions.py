"""Branch condition expressions -> the IR condition JSON."""

from __future__ import annotations

import pytest

from tierflow.engine.conditions import compile_condition
from tierflow.flowfile import ConditionError, lower_condition
from tierflow.ir import PARENT_ID


def ref(node: str, key: str) -> dict:
    return {"ref": [node, key]}


@pytest.mark.parametrize(("text", "expected"), [
    ("'billing' in classify.content",
     {"op": "contains", "left": ref("classify", "content"), "right": {"value": "billing"}}),
    ("'x' not in a.b",
     {"op": "not", "arg": {"op": "contains", "left": ref("a", "b"), "right": {"value": "x"}}}),
    ("classify.content.startswith('URGENT')",
     {"op": "startswith", "left": ref("classify", "content"), "right": {"value": "URGENT"}}),
    ("a.score >= 0.7 and not b.flagged",
     {"op": "and", "args": [{"op": "ge", "left": ref("a", "score"), "right": {"value": 0.7}},
                            {"op": "not", "arg": {"op": "truthy", "arg": ref("b", "flagged")}}]}),
    ("input.tier == 'gold' or a.n in [1, 2]",
     {"op": "or", "args": [{"op": "eq", "left": ref(PARENT_ID, "tier"), "right": {"value": "gold"}},
                           {"op": "contains", "left": {"value": [1, 2]}, "right": ref("a", "n")}]}),
    ("0 < a.n <= 3",
     {"op": "and", "args": [{"op": "lt", "left": {"value": 0}, "right": ref("a", "n")},
                            {"op": "le", "left": ref("a", "n"), "right": {"value": 3}}]}),
    ("ref('node-1', 'content') != None",
     {"op": "ne", "left": ref("node-1", "content"), "right": {"value": None}}),
    ("True", {"op": "const", "value": True}),
])
def test_expressions_lower_to_ir_json(text: str, expected: dict) -> None:
    cond, _ = lower_condition(text)
    assert cond == expected


def test_references_are_collected() -> None:
    _, refs = lower_condition("'a' in x.content and input.mode == 'b'")
    assert refs == [("x", "content"), (PARENT_ID, "mode")]


def test_lowered_conditions_evaluate_as_written() -> None:
    cond, _ = lower_condition("'billing' in classify.content and input.tier != 'free'")
    predicate = compile_condition(cond, {"classify": 0, PARENT_ID: 1})
    assert predicate([{"content": "about billing"}, {"tier": "gold"}]) is True
    assert predicate([{"content": "about billing"}, {"tier": "free"}]) is False
    assert predicate([{"content": "technical"}, {"tier": "gold"}]) is False


def test_ir_json_is_accepted_and_checked() -> None:
    good = {"op": "and", "args": [{"op": "truthy", "arg": ref("a", "ok")}, {"op": "const", "value": False}]}
    assert lower_condition(good) == (good, [("a", "ok")])
    with pytest.raises(ConditionError, match="unknown condition op 'equals'"):
        lower_condition({"op": "equals", "left": ref("a", "b"), "right": {"value": 1}})
    with pytest.raises(ConditionError, match="expected an operand"):
        lower_condition({"op": "eq", "left": "a.b", "right": {"value": 1}})


@pytest.mark.parametrize(("text", "message"), [
    ("a.b ==", "cannot parse condition"),
    ("score > 1", "'score' is not a reference: write node_id.key (or input.score"),
    ("a.b + 1 > 2", "unsupported expression 'a.b + 1'"),
    ("a.b is None", "operator Is is not supported"),
    ("a.b.contains()", "takes exactly one argument"),
    ("__import__('os').system('x')", "unsupported expression"),
])
def test_bad_expressions_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message.replace("(", r"\(").replace("+", r"\+")):
        lower_condition(text)
