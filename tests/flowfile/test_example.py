"""The customer-support example: compiles to every format and runs on the local models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tierflow.flowfile import DSLViewWarning, compile_file, import_manifest_text

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "customer-support" / "flow.json"
LOCAL_MODELS = ("smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")


def test_compiles_to_ir_with_three_roles() -> None:
    data = json.loads(compile_file(EXAMPLE, "ir"))
    assert [(m["role"], m["provider"], m["model"]) for m in data["manifest"]["models"]] == [
        ("primary", "local", "qwen2.5-coder-1.5b-instruct"), ("fast", "local", "smollm2-135m-instruct"),
        ("critic", "local", "qwen2.5-coder-0.5b-instruct")]
    roles = {n["id"]: n["config"]["llm_role"] for n in data["nodes"] if n["kind"] == "llm"}
    assert roles == {"classify": "fast", "respond": "primary", "critic": "critic"}


def test_compiles_to_yaml_that_imports_back_unchanged() -> None:
    text = compile_file(EXAMPLE, "yaml")
    assert yaml.safe_load(text)["core"]["model"] == "local/qwen2.5-coder-1.5b-instruct"
    assert import_manifest_text(text).to_json() == json.loads(EXAMPLE.read_text())


def test_compiles_to_dsl_with_a_flexible_classifier_and_a_guarded_responder() -> None:
    with pytest.warns(DSLViewWarning, match="leaves out 3 prompt nodes"):
        text = compile_file(EXAMPLE, "dsl")
    assert 'classify = @flexible {\n    model = "fast"\n' in text
    assert 'respond = @guarded {\n    model = "primary"\n' in text
    assert "    guard: confidence > 0.7\n" in text
    assert 'critic = @flexible {\n    model = "critic"\n' in text


def _missing_local_models() -> list[str]:
    try:
        from tierflow.local_models import installed_models
    except ImportError:
        return list(LOCAL_MODELS)
    have = {m.name for m in installed_models()}
    return [m for m in LOCAL_MODELS if m not in have]


@pytest.mark.local_model
@pytest.mark.slow
def test_runs_on_the_local_models_through_tierflow_run() -> None:
    missing = _missing_local_models()
    if missing:
        pytest.skip(f"local models not installed: {missing} (run `tierflow models pull`)")
    env = {k: v for k, v in os.environ.items() if k != "TIERFLOW_CONFIG"} | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", "from tierflow.cli import main; main()", "run", str(EXAMPLE), "--json",
         "--allow-code", "support_tools", "--code-path", str(EXAMPLE.parent), "--input", json.dumps({"message": "I was charged twice for my subscription this month."})],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["outputs"]["escalated"] is False and data["outputs"]["answer"]
    nodes = data["nodes"]
    assert nodes["classify"]["model_used"] == "local/smollm2-135m-instruct"
    assert nodes["respond"]["model_used"] == "local/qwen2.5-coder-1.5b-instruct"
    assert nodes["critic"]["status"] == "ok" and nodes["critic"]["output_tokens"] > 0
