"""Traffic splits in a flow file's registry: compiled to every format, validated by the schema,
imported back without loss, and checked like every other name a node looks up."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml

from tierflow.errors import FlowCompileError
from tierflow.flowfile import DSLViewWarning, compile_flow, flow_json_schema, import_manifest_text
from tierflow.flowfile.diagnostics import parse_flow_data

from .conftest import MINIMAL

SPLIT = {"role": "ab", "split": [{"role": "primary", "weight": 0.9}, {"role": "fast", "weight": 0.1}]}


@pytest.fixture
def split_flow() -> dict[str, Any]:
    flow = copy.deepcopy(MINIMAL)
    flow["config"]["core_identity"]["models"].append(copy.deepcopy(SPLIT))
    flow["nodes"][2]["config"]["llm_role"] = "ab"
    return flow


def test_ir_lists_the_split_and_the_node_names_it(split_flow: dict[str, Any]) -> None:
    ir = json.loads(compile_flow(parse_flow_data(split_flow), "ir"))
    assert ir["manifest"]["splits"] == [SPLIT]
    assert [m["role"] for m in ir["manifest"]["models"]] == ["primary", "fast"]  # IRModelDecl shape kept
    assert next(n for n in ir["nodes"] if n["id"] == "answer")["config"]["llm_role"] == "ab"


def test_dsl_and_yaml_show_the_variants(split_flow: dict[str, Any]) -> None:
    with pytest.warns(DSLViewWarning):  # the prompt node and the edges have no DSL form
        dsl = compile_flow(parse_flow_data(split_flow), "dsl")
    assert 'ab = {\n        split += { model = "primary", weight = 0.9 }\n        split += { model = "fast", weight' in dsl
    manifest = yaml.safe_load(compile_flow(parse_flow_data(split_flow), "yaml"))
    step = next(s for s in manifest["steps"] if s["id"] == "answer")
    assert step["resolved_model"] == ("split: primary 0.9 -> scaigrid/openai/gpt-4o, "
                                      "fast 0.1 -> scaigrid/openai/gpt-4o-mini")
    assert manifest["core"]["model"] == "scaigrid/openai/gpt-4o"


def test_yaml_round_trip_keeps_the_split(split_flow: dict[str, Any]) -> None:
    text = compile_flow(parse_flow_data(split_flow), "yaml")
    back = import_manifest_text(text).to_json()
    assert back["config"]["core_identity"]["models"][-1] == SPLIT
    assert compile_flow(import_manifest_text(text), "yaml") == text


def test_the_schema_accepts_a_split_and_locates_a_bad_weight(split_flow: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(flow_json_schema())
    validator.validate(split_flow)
    split_flow["config"]["core_identity"]["models"][-1]["split"][1]["weight"] = 0
    split_flow["config"]["core_identity"]["models"][-1]["split"][0]["colour"] = "red"
    errors = {(e.json_path, e.validator) for e in validator.iter_errors(split_flow)}
    base = "$.config.core_identity.models[2].split"
    assert {(f"{base}[1].weight", "exclusiveMinimum"), (f"{base}[0]", "additionalProperties")} <= errors
    split_flow["config"]["core_identity"]["models"].insert(0, copy.deepcopy(SPLIT))  # a split first
    assert any(e.json_path == "$.config.core_identity.models[0]" for e in validator.iter_errors(split_flow))


def test_a_node_naming_an_undeclared_split_variant_is_refused_at_compile(split_flow: dict[str, Any]) -> None:
    split_flow["config"]["core_identity"]["models"][-1]["split"][1]["role"] = "fats"
    with pytest.raises(FlowCompileError) as info:
        compile_flow(parse_flow_data(split_flow, source="ab.flow.json"), "ir", source="ab.flow.json")
    text = str(info.value)
    assert "ab.flow.json" in text
    assert ("config.core_identity.models[2] (role 'ab').split[1].role: role 'fats' is not declared" in text
            and "did you mean 'fast'?" in text)
