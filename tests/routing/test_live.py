"""A registry role backed by a router file chooses a candidate role per request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tierflow.errors import ConfigError
from tierflow.registry import parse_registry
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import save_router
from tierflow.routing.live import load_routed_role, prompt_text

from .conftest import MATH, POEM


@pytest.fixture
def registry():
    return parse_registry([{"role": "strong", "ref": "openai", "model": "gpt-4o"},
                           {"role": "fast", "ref": "local", "model": "smollm2-135m-instruct"}])


def test_routed_role_chooses_candidate_roles(tmp_path, two_topic, registry):
    save_router(fit_router(two_topic, "knn", embedder="hashing"), tmp_path / "auto.json")
    entry = {"role": "auto", "router": "auto.json", "candidates": ["fast", "strong"],
             "models": {"cheap": "fast"}, "target": {"quality": 1.0}}
    routed = load_routed_role(entry, registry, base_dir=tmp_path)
    assert set(routed.candidates) == {"fast", "strong"}
    math = routed.choose([{"role": "system", "content": "be brief"}, {"role": "user", "content": MATH + " now"}])
    poem = routed.choose(POEM + " please")
    assert (math.chosen_role, poem.chosen_role) == ("fast", "strong")
    assert math.runner_up == "strong" and 0 <= math.predicted_quality <= 1 and math.predicted_cost > 0


def test_a_routed_role_with_a_target_between_settings_splits_prompts_as_its_mix_says(tmp_path, two_topic, registry):
    from tierflow.routing.routers.base import mix_draw

    save_router(fit_router(two_topic, "task", embedder="hashing"), tmp_path / "auto.json")
    entry = {"role": "auto", "router": "auto.json", "candidates": ["fast", "strong"],
             "models": {"cheap": "fast"}, "target": {"quality": 0.75}}  # between all-fast (0.5) and by topic (1.0)
    routed = load_routed_role(entry, registry, base_dir=tmp_path)
    assert routed.router.mix is not None
    poems = [f"{POEM} number {i}" for i in range(60)]
    strong = {p for p in poems if routed.choose(p).chosen_role == "strong"}
    by_topic = routed.router.knob if routed.router.knob < routed.router.mix[0] else routed.router.mix[0]
    # a poem goes to the strong model exactly when its fixed draw puts it at the by-topic setting
    assert strong == {p for p in poems if routed.router.knob_for(p) == by_topic}
    assert 0 < len(strong) < len(poems) and strong == {p for p in poems if routed.choose(p).chosen_role == "strong"}
    other, share = routed.router.mix
    assert all(routed.router.knob_for(p) == (other if mix_draw(p) < share else routed.router.knob) for p in poems)
    assert {routed.choose(p).details["knob"] for p in poems} == {routed.router.knob, other}  # the decision says which


def test_routed_role_config_errors(tmp_path, two_topic, registry):
    save_router(fit_router(two_topic, "knn", embedder="hashing"), tmp_path / "auto.json")
    with pytest.raises(ConfigError, match="'ghost' is not a declared role"):
        load_routed_role({"role": "auto", "router": str(tmp_path / "auto.json"), "candidates": ["ghost"]}, registry)
    with pytest.raises(ConfigError, match="none of the router's models"):
        load_routed_role({"role": "auto", "router": str(tmp_path / "auto.json"), "candidates": ["fast"]}, registry)


def test_prompt_text_takes_the_last_user_message():
    msgs = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]}]
    assert prompt_text(msgs) == "second"


_LIVE = """
import json, sys
from tierflow.registry import parse_registry
from tierflow.routing.live import load_routed_role

registry = parse_registry([{"role": r, "ref": "srv", "model": r} for r in ("cheap", "cheap1", "cheap2", "strong")])
routed = load_routed_role({"role": "auto", "router": sys.argv[1], "candidates": ["cheap", "cheap1", "cheap2", "strong"],
                           "target": {"quality": 0.9}}, registry)
decision = routed.choose(sys.argv[2])
step = routed.next_step(sys.argv[2], {})
training = [m for m in sys.modules if m.startswith(("tierflow.routing.fit", "sklearn"))
            or m.rsplit(".", 1)[-1] in ("pipeline", "calibrate", "evaluate", "metrics", "baselines", "report")]
print(json.dumps({"chosen": decision.chosen_role, "step": step["action"], "training": training}))
"""


@pytest.mark.parametrize("kind", ["knn", "blend", "cascade"])
def test_the_live_path_imports_no_training_or_evaluation_code(tmp_path, two_topic, agreement, kind):
    table = agreement if kind == "cascade" else two_topic
    path = save_router(fit_router(table, kind, embedder="hashing"), tmp_path / "auto.json")
    done = subprocess.run([sys.executable, "-c", _LIVE, str(path), table.prompts[0]], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["chosen"] in table.models and out["step"] == "consult"  # it routed
    assert out["training"] == []


@pytest.mark.parametrize("damage", ["state key missing", "arrays file lost", "calibration curve cut", "bad target"])
def test_a_live_routed_role_with_a_damaged_router_fails_with_the_file_named_not_a_traceback(tmp_path, two_topic,
                                                                                            damage):
    from tierflow.testing import LLMTestServer

    path = save_router(fit_router(two_topic, "knn", embedder="hashing"), tmp_path / "auto.json")
    doc = json.loads(path.read_text())
    target = "{quality: 1.0}"
    if damage == "state key missing":
        del doc["state"]["k"]
    elif damage == "arrays file lost":
        (tmp_path / doc["arrays"]["file"]).unlink()
    elif damage == "calibration curve cut":
        del doc["calibration"]["curve"]["cost"]
    else:
        target = "{quality: high}"
    path.write_text(json.dumps(doc))
    srv = LLMTestServer.start_in_thread()
    try:
        (tmp_path / "tierflow.yaml").write_text(f"""
providers:
  srv: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: test}}
models:
  - {{role: strong, ref: srv, model: big-model}}
  - {{role: fast, ref: srv, model: small-model}}
  - {{role: auto, router: auto.json, candidates: [fast, strong], models: {{cheap: fast}}, target: {target}}}
""", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "tierflow.cli", "call", "--config", str(tmp_path / "tierflow.yaml"),
                               "--role", "auto", "What is 2 plus 2?"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    finally:
        srv.stop()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    named = "models (role 'auto').target" if damage == "bad target" else str(path if damage != "arrays file lost"
                                                                            else tmp_path / doc["arrays"]["file"])
    assert named in done.stderr, done.stderr
    assert srv.count("big-model") == 0 and srv.count("small-model") == 0  # refused before any call was paid for


@pytest.mark.parametrize("watch", [True, False])
def test_a_watched_role_follows_its_replaced_router_file_and_an_unwatched_one_does_not(tmp_path, two_topic, registry,
                                                                                      monkeypatch, watch):
    import tierflow.routing.live as live

    monkeypatch.setattr(live, "_RELOAD_CHECK_S", 0.0)  # check the file's stamp at every request
    path = save_router(fit_router(two_topic, "knn", embedder="hashing"), tmp_path / "auto.json")
    entry = {"role": "auto", "router": "auto.json", "candidates": ["fast", "strong"], "models": {"cheap": "fast"}}
    routed = load_routed_role(entry, registry, base_dir=tmp_path, watch=watch)
    assert routed.choose(MATH + " now").chosen_role == "fast"
    two_topic.scores[:, 0] = 0.0  # a router fitted where the cheap model never answers well: always the strong one
    save_router(fit_router(two_topic, "knn", embedder="hashing"), path)
    assert routed.choose(MATH + " now").chosen_role == ("strong" if watch else "fast")


def test_problems_are_named_as_the_router_files():
    from tierflow.errors import Problem, RoutingError
    from tierflow.routing.io import in_router_file

    exc = in_router_file("routers/auto.json", RoutingError([Problem("router.calibration", "damaged"), Problem("", "gone")]))
    assert [(p.where, p.message) for p in exc.problems] == [("routers/auto.json: router.calibration", "damaged"),
                                                            ("routers/auto.json", "gone")]
