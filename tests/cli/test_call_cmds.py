"""``tierflow call`` / ``models list`` / ``config check`` through the real CLI against the test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.testing import Answer, LLMTestServer, Status

SECRET = "sk-cli-SECRET-abcdef987654"


@pytest.fixture
def cfg(srv: LLMTestServer, tmp_path: Path) -> Path:
    srv.reset()
    path = tmp_path / "tierflow.yaml"
    path.write_text(f"""
providers:
  srv: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: "${{TF_CLI_KEY}}"}}
  dead: {{kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: "${{TF_CLI_KEY}}", timeouts: {{connect: 0.5}}}}
models:
  - {{role: primary, ref: srv, model: a, fallback: [{{ref: srv, model: b}}]}}
  - {{role: fast, ref: srv, model: c, temperature: 0.2}}
  - {{role: down, ref: dead, model: m}}
reliability: {{backoff_initial_s: 0.001, backoff_max_s: 0.002}}
prices: {{"srv/*": {{input_per_mtok: 1, output_per_mtok: 2}}}}
""")
    return path


runner = CliRunner(env={"TF_CLI_KEY": SECRET})  # set for each invocation only


def test_call_prints_answer(cfg: Path) -> None:
    res = runner.invoke(app, ["call", "--role", "fast", "--config", str(cfg), "hello there"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == "echo: hello there"


def test_call_json_record(cfg: Path, srv: LLMTestServer) -> None:
    srv.script("a", [Status(500), Answer("fine", input_tokens=10, output_tokens=5)])
    res = runner.invoke(app, ["call", "--config", str(cfg), "--json", "q"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["text"] == "fine" and record["model_used"] == "srv/a"
    assert [a["outcome"] for a in record["attempts"]] == ["error", "ok"]
    assert record["attempts"][0]["status_code"] == 500
    assert record["usage"]["input_tokens"] == 10 and record["cost_usd"] == pytest.approx(20e-6)
    assert record["latency_ms"] > 0


def test_call_stream(cfg: Path) -> None:
    res = runner.invoke(app, ["call", "--config", str(cfg), "--stream", "a b c"])
    assert res.exit_code == 0 and res.stdout.strip() == "echo: a b c"


def test_unknown_role_exits_1_naming_it(cfg: Path) -> None:
    res = runner.invoke(app, ["call", "--config", str(cfg), "--role", "fastt", "x"])
    assert res.exit_code == 1 and "'fastt'" in res.stderr and "fast" in res.stderr


def test_unreachable_provider_names_role_and_target(cfg: Path) -> None:
    res = runner.invoke(app, ["call", "--config", str(cfg), "--role", "down", "x"])
    assert res.exit_code == 1
    assert "'down'" in res.stderr and "dead/m" in res.stderr and "APIConnectionError" in res.stderr


def test_garbage_answers_reported(cfg: Path, srv: LLMTestServer) -> None:
    from tierflow.testing import Garbage

    srv.set_default("c", Garbage("<<<not json>>>"))
    res = runner.invoke(app, ["call", "--config", str(cfg), "--role", "fast", "x"])
    assert res.exit_code == 1 and "srv/c" in res.stderr and "ResponseFormatError" in res.stderr


def test_bad_key_never_printed(cfg: Path, srv: LLMTestServer) -> None:
    srv.set_default("c", Status(401, message=f"Incorrect API key provided: {SECRET}"))
    res = subprocess.run([sys.executable, "-c", "from tierflow.cli import main; main()", "call", "--config", str(cfg), "--role", "fast",
                          "x"], capture_output=True, text=True, env={**os.environ, "TF_CLI_KEY": SECRET},
                         timeout=60)
    assert res.returncode == 1
    assert "AuthenticationError" in res.stderr and "401" in res.stderr
    assert SECRET not in res.stdout + res.stderr and SECRET[-10:] not in res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_models_list_shows_chains(cfg: Path) -> None:
    res = runner.invoke(app, ["models", "list", "--config", str(cfg)])
    assert res.exit_code == 0
    assert "primary  srv/a -> srv/b" in res.stdout and "temperature 0.2" in res.stdout
    res = runner.invoke(app, ["models", "list", "--config", str(cfg), "--json"])
    roles = json.loads(res.stdout)["roles"]
    assert [r["role"] for r in roles] == ["primary", "fast", "down"] and roles[0]["chain"] == ["srv/a", "srv/b"]


def test_config_check_ok_and_every_problem(cfg: Path, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["config", "check", str(cfg)])
    assert ok.exit_code == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  p: {kind: nope}\nmodels:\n  - {role: Bad, ref: p, model: m}\n"
                   "  - {role: fast, ref: p, model: m, temperature: 3}\nextra: 1\n")
    res = runner.invoke(app, ["config", "check", str(bad)])
    assert res.exit_code == 1
    for expected in ("bad.yaml:2: providers.p.kind", "bad.yaml:4: models[0] (role 'Bad').role",
                     "bad.yaml:5: models[1] (role 'fast').temperature", "bad.yaml:6: extra: unknown key"):
        assert expected in res.stderr, expected


def test_config_check_says_an_empty_fallback_model_is_required(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  p: {kind: openai, base_url: 'http://127.0.0.1:9/v1', api_key: x}\nmodels:\n"
                   "  - {role: primary, ref: p, model: m, fallback: [{ref: p, model: ''}]}\n")
    res = runner.invoke(app, ["config", "check", str(bad)])
    assert res.exit_code == 1
    assert "bad.yaml:4: models[0] (role 'primary').fallback[0].model: is required" in res.stderr
    assert "at least 1 character" not in res.stderr


def test_config_check_missing_env_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("providers:\n  p: {kind: openai, api_key: '${TF_CLI_UNSET}'}\nmodels:\n  - {role: a, ref: p, model: m}\n")
    res = runner.invoke(app, ["config", "check", str(path)], env={"TF_CLI_UNSET": None})
    assert res.exit_code == 1 and "TF_CLI_UNSET" in res.stderr and "c.yaml:2" in res.stderr
    res = runner.invoke(app, ["config", "check", str(tmp_path / "none.yaml")])
    assert res.exit_code == 1 and "file not found" in res.stderr


def test_bad_usage_exits_2() -> None:
    assert runner.invoke(app, ["call"]).exit_code == 2


def _agreement_outcomes(path: Path, n: int = 300) -> None:
    """Two cheap models, right exactly when they agree; a strong one always right."""
    import numpy as np

    from tierflow.routing import OutcomeTable, write_long_jsonl

    rng = np.random.default_rng(1)
    prompts, responses, scores = [], [], []
    for i in range(n):
        truth = "ABCD"[rng.integers(4)]
        wrong = rng.permutation([c for c in "ABCD" if c != truth])  # no letter says more than another
        a, b = (str(wrong[0]), str(wrong[1])) if rng.random() < 0.4 else (truth, truth)
        prompts.append(f"question {i} about topic {rng.integers(50)}? Options A B C D")
        responses.append([a, b, truth])
        scores.append([float(a == truth), float(b == truth), 1.0])
    write_long_jsonl(OutcomeTable([f"q{i}" for i in range(n)], prompts, ["mcq"] * n, ["cheap1", "cheap2", "strong"],
                                  np.array(scores), np.tile([1e-4, 2e-4, 5e-3], (n, 1)), responses), path)


def test_call_cascade_runs_a_fitted_cascade_router(cfg: Path, srv: LLMTestServer, tmp_path: Path) -> None:
    env = {"TIERFLOW_HOME": str(tmp_path / "home")}
    _agreement_outcomes(tmp_path / "outcomes.jsonl")
    router = tmp_path / "cascade.json"
    res = runner.invoke(app, ["route", "fit", str(tmp_path / "outcomes.jsonl"), "-o", str(router), "--kind", "cascade",
                              "--embedder", "hashing", "--target-quality", "0.99"], env=env)
    assert res.exit_code == 0, res.output
    cfg.write_text(cfg.read_text().replace("\nreliability:", f"""
  - {{role: small1, ref: srv, model: s1}}
  - {{role: small2, ref: srv, model: s2}}
  - {{role: strong, ref: srv, model: big}}
  - {{role: auto, router: "{router}", candidates: [small1, small2, strong],
      models: {{cheap1: small1, cheap2: small2, strong: strong}}}}
reliability:""", 1))
    srv.script("s1", [Answer("A")])
    srv.script("s2", [Answer("C")])
    srv.script("big", [Answer("D", input_tokens=10, output_tokens=1)])
    args = ["call", "--config", str(cfg), "--role", "auto", "--cascade", "question 8? Options A B C D"]
    res = runner.invoke(app, [*args, "--json"], env=env)
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    # the cheap answers disagree: the chain escalates to the strong model and charges all three calls
    assert (record["text"], record["role"]) == ("D", "strong"), record["reason"]
    assert record["consulted"] == ["small1", "small2", "strong"] and record["failed"] == []
    assert [c["model_used"] for c in record["calls"]] == ["srv/s1", "srv/s2", "srv/big"]
    assert record["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in record["calls"]))
    assert record["steps"][-2]["confidence"] < record["steps"][-2]["threshold"]
    # agreeing cheap answers are accepted; the strong model is not called
    srv.script("s1", [Answer("B")])
    srv.script("s2", [Answer("B")])
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == "B" and srv.count("big") == 1
    # a plain role has no router; --stream does not combine
    res = runner.invoke(app, ["call", "--config", str(cfg), "--role", "fast", "--cascade", "q"], env=env)
    assert res.exit_code == 1 and "'fast' is not a routed role" in res.stderr
    res = runner.invoke(app, [*args, "--stream"], env=env)
    assert res.exit_code == 2 and "--cascade cannot be combined" in res.stderr
