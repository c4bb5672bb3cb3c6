"""`tierflow schema flow / compile / import / run`: outputs, exit codes, nothing written on failure."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.flowfile import compile_file
from tierflow.testing import LLMTestServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "customer-support" / "flow.json"
SEED_TEXT = """llm_role validation failed
  node 'classify': llm_role='fastt' is not declared in
  flow.config.core_identity.models (declared: ['critic', 'fast', 'primary'])"""

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, [str(a) for a in args], prog_name="tierflow")


def broken_example(tmp_path: Path) -> Path:
    data = json.loads(EXAMPLE.read_text())
    data["nodes"][2]["config"]["llm_role"] = "fastt"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_schema_flow_prints_the_json_schema() -> None:
    result = invoke("schema", "flow")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "tierflow flow file" and "nodes" in schema["properties"]


@pytest.mark.parametrize("fmt", ["ir", "yaml", "dsl"])
def test_compile_to_stdout_and_to_a_file(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"out.{fmt}"
    to_stdout = invoke("compile", EXAMPLE, "--format", fmt)
    to_file = invoke("compile", EXAMPLE, "--format", fmt, "-o", out)
    assert to_stdout.exit_code == 0 and to_file.exit_code == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the DSL view's warning is checked by its own test
        assert to_stdout.stdout == out.read_text(encoding="utf-8") == compile_file(EXAMPLE, fmt)  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left behind


def test_invalid_flow_exits_1_with_the_seed_text_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_text("previous", encoding="utf-8")
    result = invoke("compile", broken_example(tmp_path), "--format", "ir", "-o", out)
    assert result.exit_code == 1
    assert SEED_TEXT in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert out.read_text(encoding="utf-8") == "previous"
    fresh = tmp_path / "fresh.yaml"
    assert invoke("compile", broken_example(tmp_path), "-f", "yaml", "-o", fresh).exit_code == 1
    assert not fresh.exists()


def test_newer_schema_version_exits_1(tmp_path: Path) -> None:
    data = json.loads(EXAMPLE.read_text())
    data["schema_version"] = 99
    path = tmp_path / "new.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = invoke("compile", path)
    assert result.exit_code == 1 and "schema_version 99" in result.stderr


@pytest.mark.parametrize("args", [("compile", EXAMPLE, "--format", "xml"), ("compile", "no-such-flow.json"),
                                  ("import", "no-such.yaml"), ("run", EXAMPLE, "--input", "{not json")])
def test_bad_usage_exits_2(args: tuple[Any, ...]) -> None:
    assert invoke(*args).exit_code == 2


def test_import_round_trip_through_the_cli(tmp_path: Path) -> None:
    manifest, flow = tmp_path / "m.yaml", tmp_path / "flow.json"
    assert invoke("compile", EXAMPLE, "-f", "yaml", "-o", manifest).exit_code == 0
    result = invoke("import", manifest, "-o", flow)
    assert result.exit_code == 0
    assert json.loads(flow.read_text()) == json.loads(EXAMPLE.read_text())


def test_import_refuses_a_manifest_that_would_not_compile(tmp_path: Path) -> None:
    manifest = yaml.safe_load(compile_file(EXAMPLE, "yaml"))
    manifest["steps"][2]["config"]["llm_role"] = "fastt"
    src, out = tmp_path / "m.yaml", tmp_path / "flow.json"
    src.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    result = invoke("import", src, "-o", out)
    assert result.exit_code == 1 and SEED_TEXT in result.stderr and not out.exists()
    assert ("role 'fastt' is not declared in the registry (models): declare it or pick one of: primary, fast, critic"
            in result.stderr)  # what is wrong and the fix, after the documented text


@pytest.fixture
def loopback_config(srv: LLMTestServer, tmp_path: Path) -> Path:
    """A project config that sends the flow's `local` provider to the loopback test server."""
    srv.reset()
    path = tmp_path / "tierflow.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"local": {"kind": "openai", "base_url": f"{srv.base_url}/v1", "api_key": "sk-test"}},
        "models": [{"role": "primary", "ref": "local", "model": "unused"}],
        "reliability": {"max_retries": 0},
        "allow_code": ["support_tools"]}), encoding="utf-8")  # the example's own functions
    return path


CODE_PATH = ("--code-path", EXAMPLE.parent)  # the folder of support_tools.py: never implied


def test_run_prints_outputs_and_node_records_as_json(loopback_config: Path) -> None:
    result = invoke("run", EXAMPLE, "--input", '{"message": "I was charged twice"}',
                    "--config", loopback_config, "--json", *CODE_PATH)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["outputs"]["escalated"] is False
    assert data["outputs"]["answer"].endswith("I was charged twice")  # the server's echo answer
    assert data["nodes"]["classify"]["model_used"] == "local/smollm2-135m-instruct"  # the flow's registry
    assert data["nodes"]["respond"]["model_used"] == "local/qwen2.5-coder-1.5b-instruct"
    assert data["nodes"]["escalate"]["status"] == "skipped"


def test_run_takes_the_other_arm_and_variable_defaults(loopback_config: Path) -> None:
    urgent = invoke("run", EXAMPLE, "--input", '{"message": "help", "priority": "urgent"}',
                    "--config", loopback_config, "--json", *CODE_PATH)
    data = json.loads(urgent.stdout)
    assert data["outputs"]["escalated"] is True and data["nodes"]["respond"]["status"] == "skipped"
    human = invoke("run", EXAMPLE, "--input", '{"message": "help"}', "--config", loopback_config, *CODE_PATH)
    assert human.exit_code == 0 and "escalated: false" in human.stdout  # priority defaulted to normal


def test_run_errors_are_clear(loopback_config: Path, tmp_path: Path) -> None:
    missing = invoke("run", EXAMPLE, "--config", loopback_config, *CODE_PATH)
    assert missing.exit_code == 1 and "message" in missing.stderr
    data = json.loads(EXAMPLE.read_text())
    data["nodes"][4]["config"]["callable"] = "support_tools:no_such_function"
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "support_tools.py").write_text((EXAMPLE.parent / "support_tools.py").read_text())
    bad = invoke("run", flow, "--input", '{"message": "x"}', "--config", loopback_config, "--code-path", tmp_path)
    assert bad.exit_code == 1
    assert "node 'escalate'" in bad.stderr and "no attribute 'no_such_function'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_run_checks_input_types_against_declared_variables(loopback_config: Path) -> None:
    result = invoke("run", EXAMPLE, "--input", '{"message": 42, "priority": true}', "--config", loopback_config,
                    *CODE_PATH)
    assert result.exit_code == 1
    assert "input 'message': expected a string (variables.message.type), got int" in result.stderr
    assert "input 'priority': expected a string" in result.stderr


def test_compile_output_keeps_the_file_mode(tmp_path: Path) -> None:
    out = tmp_path / "flow.ir.json"
    out.write_text("previous", encoding="utf-8")
    out.chmod(0o644)
    assert invoke("compile", EXAMPLE, "-o", out).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o644 and json.loads(out.read_text())["manifest"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_compile_to_dsl_warns_what_it_leaves_out_and_import_refuses_dsl(tmp_path: Path) -> None:
    out = tmp_path / "flow.dsl"
    result = invoke("compile", EXAMPLE, "-f", "dsl", "-o", out)
    assert result.exit_code == 0
    warning = " ".join(result.stderr.split())
    assert warning.startswith("warning: the DSL is a one-way view")
    assert "2 code nodes ('escalate', 'finalize')" in warning and "12 edges" in warning
    back = invoke("import", out)
    assert back.exit_code == 1 and "invalid YAML" not in back.stderr
    assert "this is DSL text, which cannot be imported" in " ".join(back.stderr.split())


def test_compile_checks_providers_against_the_project_config(tmp_path: Path) -> None:
    data = json.loads(EXAMPLE.read_text())
    data["config"]["core_identity"]["models"][2]["ref"] = "loca"
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(data), encoding="utf-8")
    result = invoke("compile", flow)  # no --config: the embedded default project config
    assert result.exit_code == 1
    assert f"flow compilation failed in {flow}" in result.stderr
    text = " ".join(result.stderr.split())
    assert "config.core_identity.models[2] (role 'critic').ref: provider 'loca' is not declared" in text
    assert "did you mean 'local'?" in text
