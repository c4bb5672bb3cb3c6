"""The flow file format: validation, diagnostics of bad files, losslessness, the JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tierflow.errors import FlowCompileError
from tierflow.flowfile import FLOW_NODE_KINDS, FLOW_SCHEMA_VERSION, flow_json_schema, parse_flow_data, parse_flow_text


def test_load_dump_is_lossless_for_every_field(all_kinds_flow: dict[str, Any]) -> None:
    flow = parse_flow_data(all_kinds_flow)
    assert flow.to_json() == all_kinds_flow
    assert json.loads(flow.dumps()) == all_kinds_flow


def test_dump_adds_no_defaults(minimal_flow: dict[str, Any]) -> None:
    dumped = parse_flow_data(minimal_flow).to_json()
    assert "variables" not in dumped and "meta" not in dumped
    assert "inputs" not in dumped["nodes"][1] and "position" not in dumped["nodes"][1]


def test_every_kind_is_covered_by_the_fixture(all_kinds_flow: dict[str, Any]) -> None:
    assert {n["kind"] for n in all_kinds_flow["nodes"]} == set(FLOW_NODE_KINDS)


def test_json_syntax_error_names_line_and_column() -> None:
    text = '{\n  "schema_version": 1,\n  "nodes": [\n    {"id": "a",, "kind": "entry"}\n  ]\n}\n'
    with pytest.raises(FlowCompileError) as info:
        parse_flow_text(text, source="broken.json")
    (problem,) = info.value.problems
    assert problem.where == "broken.json:4:16"
    assert "invalid JSON" in problem.message


def test_newer_schema_version_is_refused_clearly(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["schema_version"] = FLOW_SCHEMA_VERSION + 1
    with pytest.raises(FlowCompileError) as info:
        parse_flow_data(minimal_flow)
    text = str(info.value)
    assert f"schema_version {FLOW_SCHEMA_VERSION + 1}" in text
    assert f"supports ({FLOW_SCHEMA_VERSION})" in text and "upgrade tierflow" in text


def test_missing_schema_version_is_reported(minimal_flow: dict[str, Any]) -> None:
    del minimal_flow["schema_version"]
    with pytest.raises(FlowCompileError) as info:
        parse_flow_data(minimal_flow)
    assert [(p.where, p.message) for p in info.value.problems] == [("schema_version", "is required")]


def test_every_format_problem_is_reported_with_node_and_field(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][1]["confg"] = {}                        # typo'd field
    minimal_flow["nodes"][2]["kind"] = "llmm"                     # unknown kind
    minimal_flow["nodes"].append({"id": "c", "kind": "code", "config": {"callable": "not a path"}})
    minimal_flow["edges"][0]["soft"] = "maybe"
    with pytest.raises(FlowCompileError) as info:
        parse_flow_data(minimal_flow)
    found = {p.where: p.message for p in info.value.problems}
    assert "canvas data goes under 'ui'" in found["node 'ask' (nodes[1]).confg"]
    assert "'llmm' is not a node kind" in found["node 'answer' (nodes[2]).kind"]
    assert "expected 'package.module:function'" in found["node 'c' (nodes[4]).config.callable"]
    assert "edges[0] (start -> ask).soft" in found
    assert len(info.value.problems) == 4


def test_a_non_object_flow_is_refused() -> None:
    with pytest.raises(FlowCompileError, match="a flow file is a JSON object, got list"):
        parse_flow_text("[1, 2]")


def test_schema_accepts_valid_flows_and_rejects_bad_ones(all_kinds_flow: dict[str, Any],
                                                       repo_root: Any) -> None:
    schema = flow_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(all_kinds_flow)
    validator.validate(json.loads((repo_root / "examples/customer-support/flow.json").read_text()))
    all_kinds_flow["nodes"][0]["kind"] = "teleport"
    assert list(validator.iter_errors(all_kinds_flow))


def test_node_ids_with_dots_are_refused(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][1]["id"] = "ask.v2"
    with pytest.raises(FlowCompileError, match=r"nodes\[1\]\)\.id: 'ask.v2' is not a valid node id"):
        parse_flow_data(minimal_flow)


def test_schema_describes_registry_entries(minimal_flow: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(flow_json_schema())
    validator.validate(minimal_flow)
    models = minimal_flow["config"]["core_identity"]["models"]
    models += [
        {"role": "Bad Role", "ref": "x", "model": "m"},                                  # role name pattern
        {"role": "hot", "ref": "x", "model": "m", "temperature": 2.5},                   # temperature range
        {"role": "smell", "ref": "x", "model": "m", "modalities": ["smell"]},            # modalities enum
        {"role": "emb", "ref": "x", "model": "m", "modalities": ["embedding"],
         "system_context": "hi"},                                                       # needs a text modality
        {"role": "fb", "ref": "x", "model": "m", "fallback": [{"ref": "y"}]},            # fallback shape
        {"role": "nomodel", "ref": "x"},                                                 # required fields
        {"role": "extra", "ref": "x", "model": "m", "colour": "red"},                    # no unknown keys
        dict(models[0]),                                                                 # an identical duplicate
    ]
    errors = {(e.json_path, e.validator) for e in validator.iter_errors(minimal_flow)}
    base = "$.config.core_identity.models"
    assert {(f"{base}[2].role", "pattern"), (f"{base}[3].temperature", "anyOf"), (f"{base}[4].modalities[0]", "enum"),
            (f"{base}[5].modalities", "anyOf"), (f"{base}[6].fallback[0]", "required"), (f"{base}[7]", "required"),
            (f"{base}[8]", "additionalProperties"), (base, "uniqueItems")} <= errors


def test_schema_lists_every_pattern() -> None:
    from tierflow.patterns import PATTERNS

    enum = flow_json_schema()["$defs"]["PatternConfig"]["properties"]["pattern"]["enum"]
    assert sorted(enum) == sorted(PATTERNS)
