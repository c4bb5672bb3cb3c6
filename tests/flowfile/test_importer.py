"""YAML manifests: the emitted shape, the lossless round trip per node kind, the lossy import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tierflow.errors import FlowCompileError
from tierflow.flowfile import (
    FLOW_NODE_KINDS,
    emit_yaml,
    import_manifest,
    import_manifest_text,
    load_flow,
    lower_flow,
    parse_flow_data,
)


def round_trip(data: dict[str, Any]) -> dict[str, Any]:
    return import_manifest_text(emit_yaml(parse_flow_data(data))).to_json()


def test_manifest_carries_core_model_and_the_full_registry(minimal_flow: dict[str, Any]) -> None:
    manifest = yaml.safe_load(emit_yaml(parse_flow_data(minimal_flow)))
    assert manifest["core"]["model"] == "scaigrid/openai/gpt-4o"
    assert manifest["core"]["scaiflow_meta"]["models"] == minimal_flow["config"]["core_identity"]["models"]
    step = manifest["steps"][2]
    assert step["config"] == {"llm_role": "fast"}
    assert step["resolved_model"] == "scaigrid/openai/gpt-4o-mini"


def test_flow_yaml_flow_is_lossless(all_kinds_flow: dict[str, Any]) -> None:
    assert round_trip(all_kinds_flow) == all_kinds_flow


@pytest.mark.parametrize("kind", FLOW_NODE_KINDS)
def test_round_trip_keeps_each_node_kind_exactly(kind: str, all_kinds_flow: dict[str, Any]) -> None:
    back = round_trip(all_kinds_flow)
    original = [n for n in all_kinds_flow["nodes"] if n["kind"] == kind]
    assert original, f"fixture lacks a {kind} node"
    assert [n for n in back["nodes"] if n["kind"] == kind] == original


def test_example_round_trips(repo_root: Path) -> None:
    data = json.loads((repo_root / "examples/customer-support/flow.json").read_text())
    assert round_trip(data) == data


def test_hand_written_manifest_lifts_core_model(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("core:\n  name: Legacy\n  model: scaigrid/openai/gpt-4o\n", encoding="utf-8")
    flow = import_manifest(path)
    assert flow.config.core_identity.models == [{"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"}]
    module = lower_flow(flow)  # lossy but compiling
    assert module.registry.primary.model == "openai/gpt-4o"


def test_hand_written_steps_without_meta_compile(minimal_flow: dict[str, Any]) -> None:
    manifest = yaml.safe_load(emit_yaml(parse_flow_data(minimal_flow)))
    del manifest["core"]["scaiflow_meta"]
    manifest["steps"][2]["config"] = {"llm_role": "primary"}
    flow = import_manifest_text(yaml.safe_dump(manifest))
    assert lower_flow(flow).node("answer").config["llm_role"] == "primary"


@pytest.mark.parametrize(("text", "where", "message"), [
    ("core:\n  model: gpt-4o\n", "core.model", "expected '<provider>/<model>'"),
    ("steps: []\n", "core", "needs a 'core' mapping"),
    ("core:\n  name: x\n   model: a/b\n", "m.yaml:3:", "invalid YAML"),
])
def test_bad_manifests_are_located(text: str, where: str, message: str) -> None:
    with pytest.raises(FlowCompileError) as info:
        import_manifest_text(text, source="m.yaml")
    (problem,) = info.value.problems
    assert problem.where.startswith(where) and message in problem.message


def test_invalid_steps_are_reported_as_flow_problems(minimal_flow: dict[str, Any]) -> None:
    manifest = yaml.safe_load(emit_yaml(parse_flow_data(minimal_flow)))
    manifest["steps"][1]["kind"] = "teleport"
    with pytest.raises(FlowCompileError, match=r"node 'ask' \(nodes\[1\]\)\.kind: 'teleport' is not a node kind"):
        import_manifest_text(yaml.safe_dump(manifest))


def test_example_loads(repo_root: Path) -> None:
    assert load_flow(repo_root / "examples/customer-support/flow.json").name == "Customer Support"


@pytest.mark.parametrize("name", ["flow.dsl", "flow.txt"])
def test_dsl_text_is_refused_saying_what_import_reads(name: str, all_kinds_flow: dict[str, Any],
                                                      tmp_path: Path) -> None:
    from tierflow.flowfile import emit_dsl

    path = tmp_path / name
    path.write_text(emit_dsl(lower_flow(parse_flow_data(all_kinds_flow))), encoding="utf-8")
    with pytest.raises(FlowCompileError) as info:
        import_manifest(path)
    (problem,) = info.value.problems
    assert "this is DSL text, which cannot be imported" in problem.message and "invalid YAML" not in problem.message
    assert "tierflow import reads YAML deploy manifests" in problem.message


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    text = "core:\n  name: bomb\n  model: openai/gpt-4o\n" + "\n".join(levels) + "\n"
    with pytest.raises(FlowCompileError, match="alias bomb"):
        import_manifest_text(text, source="bomb.yaml")
