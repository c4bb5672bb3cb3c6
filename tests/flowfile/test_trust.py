"""A flow file runs no code unless the user allows its module; its folder never joins sys.path."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.errors import FlowCompileError, GraphBuildError
from tierflow.flowfile import lower_flow, parse_flow_data
from tierflow.flowfile.runner import run_flow_file

runner = CliRunner()
REGISTRY = [{"role": "primary", "ref": "local", "model": "unused"}]


def code_flow(callable_: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """entry -> one code node -> exit; its outputs become the run's."""
    return {"schema_version": 1, "config": {"core_identity": {"name": "code", "models": REGISTRY}},
            "nodes": [{"id": "start", "kind": "entry"},
                      {"id": "step", "kind": "code", "config": {"callable": callable_}, "inputs": inputs,
                       "outputs": {"*": "*"}},
                      {"id": "end", "kind": "exit"}],
            "edges": [{"source": "start", "target": "step"}, {"source": "step", "target": "end"}]}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project config with no allow list (the default): no LLM is called by these flows."""
    path = tmp_path / "tierflow.yaml"
    path.write_text("providers: {local: {kind: local}}\nmodels: [{role: primary, ref: local, model: unused}]\n",
                    encoding="utf-8")
    return path


def write(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "flow.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_flow_naming_os_system_runs_nothing(tmp_path: Path, project: Path) -> None:
    marker = tmp_path / "pwned"
    flow = write(tmp_path, code_flow("os:system", {"command": f"touch {marker}"}))
    result = runner.invoke(app, ["run", str(flow), "--config", str(project)])
    assert result.exit_code == 1
    assert not marker.exists()
    message = " ".join(result.stderr.split())
    assert "code not allowed" in message and "node 'step' (nodes[1]).config.callable" in message
    # the refusal says exactly what to add, in each place an allow list can live
    assert "`--allow-code os`" in message and "`allow_code: [os]`" in message
    assert "Traceback" not in result.output


def test_a_py_beside_the_flow_is_not_imported(tmp_path: Path, project: Path) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "evil_steps.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n\ndef run() -> dict:\n    return {{'done': True}}\n", encoding="utf-8")
    flow = write(tmp_path, code_flow("evil_steps:run", {}))
    refused = runner.invoke(app, ["run", str(flow), "--config", str(project)])
    assert refused.exit_code == 1 and "`--allow-code evil_steps`" in refused.stderr
    assert not marker.exists() and "evil_steps" not in sys.modules
    # allowed, but the flow's folder is still not on the import path
    allowed = runner.invoke(app, ["run", str(flow), "--config", str(project), "--allow-code", "evil_steps"])
    assert allowed.exit_code == 1 and not marker.exists()
    assert "the flow's folder is not on the import path" in " ".join(allowed.stderr.split())
    # allowed, and the folder named explicitly: it runs
    ran = runner.invoke(app, ["run", str(flow), "--config", str(project), "--allow-code", "evil_steps",
                              "--code-path", str(tmp_path), "--json"])
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"] == {"done": True} and marker.exists()
    sys.modules.pop("evil_steps", None)


def test_sys_path_is_unchanged_after_a_run(tmp_path: Path, project: Path) -> None:
    (tmp_path / "steps_for_path.py").write_text("def shout(text: str) -> dict:\n    return {'loud': text.upper()}\n",
                                               encoding="utf-8")
    flow = write(tmp_path, code_flow("steps_for_path:shout", {"text": {"ref": "input.text"}}))
    before = list(sys.path)
    result = run_flow_file(flow, {"text": "hi"}, config_path=project, allow_code=["steps_for_path"],
                           code_path=[tmp_path])
    assert result["loud"] == "HI"
    assert sys.path == before and str(tmp_path) not in sys.path
    sys.modules.pop("steps_for_path", None)


def test_the_project_config_allow_list_and_packages(tmp_path: Path) -> None:
    from tierflow.flowfile import CodePolicy

    project = tmp_path / "tierflow.yaml"
    project.write_text("providers: {local: {kind: local}}\nmodels: [{role: primary, ref: local, model: unused}]\n"
                       "allow_code: [json]\n", encoding="utf-8")
    flow = write(tmp_path, code_flow("json.decoder:JSONDecoder", {}))  # a submodule of an allowed package
    result = run_flow_file(flow, {}, config_path=project)
    assert result.nodes["step"].status == "ok"
    policy = CodePolicy.of(["mypkg"])
    assert policy.allows("mypkg") and policy.allows("mypkg.steps")
    assert not policy.allows("mypkg_evil") and not policy.allows("other.mypkg")


@pytest.mark.parametrize("spec", ["steps_imports:os.system", "steps_imports:system"])
def test_an_allowed_module_does_not_allow_what_it_imports(spec: str, tmp_path: Path) -> None:
    from tierflow.flowfile import bind_callables

    (tmp_path / "steps_imports.py").write_text("import os\nfrom os import system\n", encoding="utf-8")
    module = lower_flow(parse_flow_data(code_flow(spec, {"command": "true"})))
    with pytest.raises(FlowCompileError) as info:
        bind_callables(module, allow_code=["steps_imports"], code_path=[tmp_path])
    assert "node 'step'.config.callable" in str(info.value)
    assert "does not allow what it imports" in str(info.value) or "reaches module 'os'" in str(info.value)
    assert module.node("step").fn is None
    sys.modules.pop("steps_imports", None)


def test_pattern_functions_are_gated_too(tmp_path: Path) -> None:
    from tierflow.errors import CodeNotAllowedError
    from tierflow.flowfile import bind_callables

    data = code_flow("json:dumps", {"obj": 1})
    data["nodes"][1] = {"id": "step", "kind": "pattern", "inputs": {"messages": "hi"},
                        "config": {"pattern": "ensemble", "roles": ["primary", "primary"],
                                   "aggregate": "os:system"}}
    module = lower_flow(parse_flow_data(data))
    with pytest.raises(CodeNotAllowedError) as info:
        bind_callables(module, allow_code=["json"])
    assert "node 'step'.config.aggregate" in str(info.value) and "`--allow-code os`" in str(info.value)


def test_every_refusal_is_listed_before_anything_is_imported(tmp_path: Path) -> None:
    from tierflow.errors import CodeNotAllowedError
    from tierflow.flowfile import bind_callables

    marker = tmp_path / "imported"
    (tmp_path / "first_steps.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef f():\n    return {{}}\n",
                                             encoding="utf-8")
    data = code_flow("first_steps:f", {})
    data["nodes"].insert(2, {"id": "second", "kind": "code", "config": {"callable": "subprocess:run"}})
    data["edges"] = [{"source": "start", "target": "step"}, {"source": "step", "target": "second"},
                     {"source": "second", "target": "end"}]
    module = lower_flow(parse_flow_data(data))
    with pytest.raises(CodeNotAllowedError) as info:
        bind_callables(module, allow_code=["first_steps"], code_path=[tmp_path])
    assert [p.where for p in info.value.problems] == ["node 'second'.config.callable"]
    assert not marker.exists()  # the allowed module was not imported either: one refusal stops the run


def test_the_engine_never_imports_a_flow_function_by_name() -> None:
    from tierflow.engine import Engine

    module = lower_flow(parse_flow_data(code_flow("os:getcwd", {})))
    with pytest.raises(GraphBuildError, match="no function is bound"):
        Engine(module)


def test_star_allows_every_module_the_flow_names(tmp_path: Path, project: Path) -> None:
    flow = write(tmp_path, code_flow("json:dumps", {"obj": [1]}))
    result = runner.invoke(app, ["run", str(flow), "--config", str(project), "--allow-code", "*", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == {"result": "[1]"}


def test_a_flow_file_cannot_allow_its_own_code(tmp_path: Path, project: Path) -> None:
    data = code_flow("os:getcwd", {})
    data["config"]["allow_code"] = ["os"]
    result = runner.invoke(app, ["run", str(write(tmp_path, data)), "--config", str(project)])
    assert result.exit_code == 1 and "allow_code" in result.stderr  # refused: not a flow-file field


def test_the_readme_section_the_refusals_point_to_states_the_rules(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Security"):]
    section = section[:section.index("\n## ", 1)]
    for rule in ("allow_code: [mypkg.steps]", "--allow-code", "--code-path", "never put on `sys.path`",
                 "cannot allow its own code"):
        assert rule in section


def test_a_resources_file_carries_an_allow_list_too() -> None:
    from tierflow.config import parse_config

    config = parse_config("llm:fast: {_class: OpenAIConfig, model: m, api_key: k, base_url: 'http://127.0.0.1:9/v1'}\n"
                          "allow_code: [mypkg.steps]\n", source="resources.yaml")
    assert config.allow_code == ("mypkg.steps",)
