"""The seed-004 examples (their graphs validate, and they run on the local models) and the
learned-routing example (records real outcomes of the local models, fits a router, routes live)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tierflow.calls import Client
from tierflow.engine import Engine

EXAMPLES = ("cascading", "task_routing", "ensemble", "fallback", "quality_gate")
NEEDED = {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"}


def _load(repo_root: Path, name: str) -> ModuleType:
    folder = repo_root / "examples"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"tierflow_example_{name}", folder / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _models_installed() -> bool:
    from tierflow.local_models import installed_models
    return NEEDED <= {m.name for m in installed_models()}


needs_models = pytest.mark.skipif(not _models_installed(), reason="run `tierflow models pull` first")


# each example's model-calling nodes (examples/*.py): a graph that lost or renamed one fails here
LLM_NODES = {
    "cascading": ["classify", "complex_llm", "simple_llm"],
    "task_routing": ["classify", "code_llm", "creative_llm", "general_llm", "math_llm"],
    "ensemble": ["llm_azure", "llm_gemini", "llm_openai"],
    "fallback": ["llm"],
    "quality_gate": ["fast_llm", "quality_check", "strong_llm"],
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_graph_validates_against_the_example_registry(repo_root: Path, name: str) -> None:
    module = _load(repo_root, name)
    client = Client.from_config(repo_root / "examples" / "tierflow.yaml")
    engine = Engine(module.graph, client=client)  # role checks run here
    plan = engine.plan
    assert sorted(i for i, kind in zip(plan.ids, plan.kinds) if kind == "llm") == LLM_NODES[name]






@pytest.mark.local_model
@needs_models
async def test_cascading_routes_by_classification(repo_root: Path) -> None:
    module = _load(repo_root, "cascading")
    queries = ["What is 2+2?", "Explain quantum entanglement and its implications for quantum computing."]
    async with Client.from_config(repo_root / "examples" / "tierflow.yaml") as client:
        results = await module.main(queries, client=client)
    # The behaviour, whatever label the 135M classifier picks: the JSON schema keeps it on its two
    # labels, the branch follows the label, and the arm taken answers on its role's model.
    role_model = {"strong": "local/qwen2.5-coder-1.5b-instruct", "fast": "local/smollm2-135m-instruct"}
    for result in results:
        label = json.loads(result["classification"])["complexity"]
        assert label in ("SIMPLE", "COMPLEX")
        expected = "strong" if label == "COMPLEX" else "fast"
        assert result["model_used"] == expected
        taken, skipped = (("complex_llm", "simple_llm") if expected == "strong"
                          else ("simple_llm", "complex_llm"))
        assert result.nodes[taken].status == "ok" and result.nodes[skipped].status == "skipped"
        assert result.nodes[taken].model_used == role_model[expected]
        assert result["response"].strip()
        assert result.nodes["classify"].model_used == "local/smollm2-135m-instruct"


@pytest.mark.local_model
@needs_models
async def test_task_routing_runs_exactly_one_specialist(repo_root: Path) -> None:
    module = _load(repo_root, "task_routing")
    async with Client.from_config(repo_root / "examples" / "tierflow.yaml") as client:
        [result] = await module.main(["Write a Python function that reverses a string."], client=client)
    ran = [n for n, r in result.nodes.items() if n.endswith("_llm") and r.status == "ok"]
    assert len(ran) == 1 and result["response"].strip()
    label = result["task_type"]
    expected = next((k for k in ("CODE", "MATH", "CREATIVE") if k in label), "GENERAL").lower()
    assert ran == [f"{expected}_llm"]


@pytest.mark.local_model
@needs_models
async def test_ensemble_asks_three_models_and_aggregates(repo_root: Path) -> None:
    module = _load(repo_root, "ensemble")
    async with Client.from_config(repo_root / "examples" / "tierflow.yaml") as client:
        [result] = await module.main(["What is the capital of France?"], client=client)
    used = {result.nodes[n].model_used for n in ("llm_openai", "llm_gemini", "llm_azure")}
    assert used == {"local/qwen2.5-coder-1.5b-instruct", "local/qwen2.5-coder-0.5b-instruct"}
    assert 0 < result["confidence"] <= 1
    assert (result["agreement"] == "full") == (result["confidence"] == 1.0)


@pytest.mark.local_model
@needs_models
async def test_fallback_chain_reports_the_model_that_answered(repo_root: Path) -> None:
    module = _load(repo_root, "fallback")
    async with Client.from_config(repo_root / "examples" / "tierflow.yaml") as client:
        [result] = await module.main(["Hello"], client=client)
    assert result["model_used"] == "local/qwen2.5-coder-0.5b-instruct"  # the first fallback
    attempts = result.node_outputs["llm"]["call"].attempts
    assert attempts[0].target == "remote/gpt-4o" and attempts[0].outcome == "error"
    assert result["response"].strip()


@pytest.mark.local_model
@needs_models
async def test_quality_gate_retries_with_strong_below_seven(repo_root: Path) -> None:
    module = _load(repo_root, "quality_gate")
    async with Client.from_config(repo_root / "examples" / "tierflow.yaml") as client:
        [result] = await module.main(["Why is the sky blue?"], client=client)
    score = result["quality_score"]
    assert result["model_used"] == ("strong (retry)" if score < 7 else "fast")
    assert (result.nodes["strong_llm"].status == "ok") == (score < 7)
    assert result["response"].strip()


@pytest.mark.local_model
@needs_models
def test_cascading_script_runs_from_the_command_line(repo_root: Path) -> None:
    proc = subprocess.run([sys.executable, str(repo_root / "examples" / "cascading.py"), "Hi there"],
                          capture_output=True, text=True, timeout=600, check=False, cwd=repo_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Model: " in proc.stdout and "Response: " in proc.stdout and "total:" in proc.stdout


@pytest.mark.local_model
@needs_models
async def test_learned_routing_records_fits_and_routes_live(repo_root: Path, tmp_path: Path) -> None:
    from tierflow.routing import load_router

    module = _load(repo_root, "learned_routing")
    async with Client.from_config(repo_root / "examples" / "tierflow.yaml") as client:
        out = await module.main(tmp_path / "out", client=client)
    table = out["table"]
    lines = (tmp_path / "out" / "outcomes.jsonl").read_text().splitlines()
    assert len(lines) == table.n * 2 == 2 * (len(module.CAPITALS) + len(module.SUMS))
    acc = {(task, model): table.scores[[t == task for t in table.tasks], j].mean()
           for task in ("capital", "addition") for j, model in enumerate(table.models)}
    # what the real models do: the 135M model cannot add three-digit numbers, the 1.5B model can
    assert acc[("addition", "strong")] >= acc[("addition", "fast")] + 0.5
    assert load_router(tmp_path / "out" / "router.json").models == ["fast", "strong"]
    live = {row["prompt"]: row for row in out["live"]}
    assert all(row["role"] in ("fast", "strong") for row in live.values())
    for a, b in module.NEW_SUMS:
        assert live[f"What is {a} + {b}? Answer with the number only."]["role"] == "strong"
    if acc[("capital", "fast")] >= acc[("capital", "strong")]:  # the cheap model is as good: it answers
        for country, _ in module.NEW_CAPITALS:
            assert live[f"What is the capital of {country}? Answer with one word."]["role"] == "fast"


@pytest.mark.local_model
@pytest.mark.slow
@needs_models
async def test_closed_loop_explores_verifies_fits_shadows_and_promotes_only_on_target(tmp_path: Path,
                                                                                     repo_root: Path) -> None:
    import sqlite3

    from tierflow.routing import load_router

    module = _load(repo_root, "closed_loop")
    out = await module.main(tmp_path / "out")
    with sqlite3.connect(out["ledger"]) as conn:
        decisions = [json.loads(d) for (d,) in conn.execute("SELECT decision FROM requests")]
        scored = conn.execute("SELECT COUNT(DISTINCT request_id) FROM feedback").fetchone()[0]
    assert len(decisions) == scored == 48
    assert all(0 < d["propensity"] <= 1 and d["router_choice"] == "strong" for d in decisions)
    assert any(d["explored"] for d in decisions)  # half the traffic explores
    report = out["report"]
    assert report.live.n == report.candidate.n == 48
    assert report.live.quality_ci[0] <= report.live.quality <= report.live.quality_ci[1]
    live_file, previous = tmp_path / "out" / "auto.json", tmp_path / "out" / "auto.previous.json"
    if report.promotable:  # the target was met: swapped in, the old router kept
        assert out["promoted"] == live_file and previous.is_file()
        assert load_router(live_file).state()[0] == load_router(out["candidate"]).state()[0]
    else:  # it was not: nothing changed, and the reason says why
        assert out["promoted"] is None and not previous.is_file()
        assert report.reason.startswith("not promoted")
