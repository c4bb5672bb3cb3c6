"""Every name a flow file looks up is checked at compile time, located and with "did you mean"."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.config import parse_config
from tierflow.errors import FlowCompileError
from tierflow.flowfile import compile_flow, lower_flow, parse_flow_data
from tierflow.patterns import PATTERNS

runner = CliRunner()
PROJECT = """providers:
  openai: {kind: openai, api_key: sk-test}
models:
  - {role: primary, ref: openai, model: gpt-4o}
"""
ROUTED = PROJECT + "  - {role: auto, router: r.json, candidates: [fast, primary]}\n"


def lower(data: dict[str, Any], project: str | None = None) -> Any:
    return lower_flow(parse_flow_data(data), source="flow.json",
                      project=None if project is None else parse_config(project, source="tierflow.yaml"))


def problems_of(data: dict[str, Any], project: str | None = None) -> dict[str, str]:
    with pytest.raises(FlowCompileError) as info:
        lower(data, project)
    assert info.value.source == "flow.json"  # blamed on the flow file
    return {p.where: p.message for p in info.value.problems}


def with_registry(flow: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    flow["config"]["core_identity"]["models"] = models
    return flow


# --- modalities ---------------------------------------------------------------------------------

EMBEDDER = {"role": "embedder", "ref": "openai", "model": "text-embedding-3-small", "modalities": ["embedding"]}


def test_an_llm_node_on_an_embedding_only_role_does_not_compile(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["config"]["core_identity"]["models"].append(EMBEDDER)
    minimal_flow["nodes"][2]["config"]["llm_role"] = "embedder"
    problems = problems_of(minimal_flow)
    message = problems["node 'answer' (nodes[2]).config.llm_role"]
    assert "role 'embedder' has modalities ['embedding']" in message
    assert "'text' or 'structured_output'" in message and "chat roles: ['primary', 'fast']" in message


def test_an_embedding_role_as_a_fallback_or_pattern_role_does_not_compile(all_kinds_flow: dict[str, Any]) -> None:
    all_kinds_flow["config"]["core_identity"]["models"].append(EMBEDDER)
    all_kinds_flow["nodes"][2]["config"]["fallback"] = ["embedder"]
    all_kinds_flow["nodes"][5]["config"]["roles"] = ["fast", "embedder"]
    problems = problems_of(all_kinds_flow)
    assert "modalities ['embedding']" in problems["node 'answer' (nodes[2]).config.fallback[0]"]
    assert "modalities ['embedding']" in problems["node 'deep' (nodes[5]).config.roles[1]"]


def test_a_role_with_structured_output_only_is_a_chat_role(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["config"]["core_identity"]["models"][1]["modalities"] = ["structured_output"]
    assert lower(minimal_flow).node("answer").config["llm_role"] == "fast"


# --- the implicit primary -------------------------------------------------------------------------

MAIN_FIRST = [{"role": "main", "ref": "openai", "model": "gpt-4o"},
              {"role": "fast", "ref": "openai", "model": "gpt-4o-mini"}]


def test_a_node_pinning_no_role_is_emitted_with_the_first_entrys_role(minimal_flow: dict[str, Any]) -> None:
    with_registry(minimal_flow, MAIN_FIRST)["nodes"][2]["config"] = {}
    flow = parse_flow_data(minimal_flow)
    ir = json.loads(compile_flow(flow, "ir"))
    assert [n["config"]["llm_role"] for n in ir["nodes"] if n["kind"] == "llm"] == ["main"]
    assert [m["role"] for m in ir["manifest"]["models"]] == ["main", "fast"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the DSL view warns about the prompt node it leaves out
        dsl = compile_flow(flow, "dsl")
    assert 'model = "main"' in dsl and 'model = "primary"' not in dsl


def test_naming_an_undeclared_primary_is_refused_with_the_documented_text(minimal_flow: dict[str, Any]) -> None:
    with_registry(minimal_flow, MAIN_FIRST)["nodes"][2]["config"] = {"llm_role": "primary"}
    problems = problems_of(minimal_flow)
    assert problems["node 'answer' (nodes[2]).config.llm_role"].startswith(
        "llm_role validation failed\n  node 'answer': llm_role='primary' is not declared in\n"
        "  flow.config.core_identity.models (declared: ['fast', 'main'])")


# --- providers ----------------------------------------------------------------------------------


def test_an_undeclared_provider_fails_at_compile_blaming_the_flow_file(minimal_flow: dict[str, Any]) -> None:
    models = minimal_flow["config"]["core_identity"]["models"]
    models[0]["ref"], models[1]["ref"] = "openai", "opnai"
    models[1]["fallback"] = [{"ref": "scaigrid", "model": "x"}]
    problems = problems_of(minimal_flow, PROJECT)
    message = problems["config.core_identity.models[1] (role 'fast').ref"]
    assert "provider 'opnai' is not declared in the project config tierflow.yaml" in message
    assert "did you mean 'openai'?" in message
    assert "provider 'scaigrid'" in problems["config.core_identity.models[1] (role 'fast').fallback[0].ref"]
    assert lower(minimal_flow).registry.roles == ["primary", "fast"]  # no project config: left to run time


def test_a_provider_model_fallback_names_a_known_provider(minimal_flow: dict[str, Any]) -> None:
    models = minimal_flow["config"]["core_identity"]["models"]
    models[0]["ref"] = models[1]["ref"] = "openai"
    del models[1]["fallback"]
    minimal_flow["nodes"][2]["config"]["fallback"] = ["anthropc/claude-3-5-haiku-latest"]
    problems = problems_of(minimal_flow, PROJECT)
    message = problems["node 'answer' (nodes[2]).config.fallback[0]"]
    assert "names provider 'anthropc', which is not declared" in message and "did you mean 'anthropic'?" in message


def test_run_checks_providers_before_any_call_and_blames_the_flow(minimal_flow: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    minimal_flow["config"]["core_identity"]["models"][1]["ref"] = "opnai"
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(minimal_flow), encoding="utf-8")
    config = tmp_path / "tierflow.yaml"
    config.write_text(PROJECT, encoding="utf-8")
    result = runner.invoke(app, ["run", str(flow), "--config", str(config), "--input", '{"question": "q"}'])
    assert result.exit_code == 1
    assert f"flow compilation failed in {flow}" in result.stderr
    assert "config.core_identity.models[1] (role 'fast').ref: provider 'opnai'" in result.stderr
    assert "node 'answer' failed" not in result.stderr  # refused before the first call


# --- roles: did you mean ------------------------------------------------------------------------


def test_a_role_typo_suggests_the_declared_role(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["nodes"][2]["config"]["llm_role"] = "fsat"
    message = problems_of(minimal_flow)["node 'answer' (nodes[2]).config.llm_role"]
    assert "llm_role='fsat' is not declared" in message and message.endswith("did you mean 'fast'?")


def test_pattern_roles_are_checked_with_their_json_path(all_kinds_flow: dict[str, Any]) -> None:
    all_kinds_flow["nodes"][5]["config"]["roles"] = ["fsat", "primary"]
    message = problems_of(all_kinds_flow)["node 'deep' (nodes[5]).config.roles[0]"]
    assert "role 'fsat' is not declared" in message and "did you mean 'fast'?" in message


def test_pattern_names_and_settings_are_checked(all_kinds_flow: dict[str, Any]) -> None:
    all_kinds_flow["nodes"][5]["config"] = {"pattern": "verifier", "ladder": ["fast", "primray"],
                                            "max_attempts": 0}
    message = problems_of(all_kinds_flow)["node 'deep' (nodes[5]).config"]
    assert "invalid verifier settings: max_attempts must be at least 1" in message
    all_kinds_flow["nodes"][5]["config"] = {"pattern": "verifier", "ladder": ["fast", "primray"]}
    assert "did you mean 'primary'?" in problems_of(all_kinds_flow)["node 'deep' (nodes[5]).config.ladder[1]"]


# --- routed_cascade -----------------------------------------------------------------------------

ROUTED_NODE = {"id": "deep", "kind": "pattern", "config": {"pattern": "routed_cascade", "routed": "auto"},
               "inputs": {"messages": {"ref": "ask.messages"}}, "outputs": {"content": "answer"}}


def test_the_readmes_routed_cascade_node_compiles(minimal_flow: dict[str, Any], tmp_path: Path) -> None:
    with_registry(minimal_flow, MAIN_FIRST)["nodes"][2] = dict(ROUTED_NODE)
    minimal_flow["edges"][1]["target"] = minimal_flow["edges"][2]["source"] = "deep"
    flow, config = tmp_path / "flow.json", tmp_path / "tierflow.yaml"
    flow.write_text(json.dumps(minimal_flow), encoding="utf-8")
    config.write_text(ROUTED, encoding="utf-8")
    result = runner.invoke(app, ["compile", str(flow), "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    node = next(n for n in json.loads(result.stdout)["nodes"] if n["id"] == "deep")
    assert node["config"] == {"pattern": "routed_cascade", "routed": "auto"}
    # without that routed role in the project config, the name is refused and located
    config.write_text(PROJECT, encoding="utf-8")
    refused = runner.invoke(app, ["compile", str(flow), "--config", str(config)])
    assert refused.exit_code == 1
    assert "node 'deep' (nodes[2]).config.routed: 'auto' is not a routed role" in refused.stderr


def test_every_pattern_can_be_named_in_a_flow() -> None:
    from tierflow.flowfile.format import PatternName

    assert set(PatternName.__args__) == set(PATTERNS)  # type: ignore[attr-defined]
