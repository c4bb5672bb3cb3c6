"""The summary lines of ``tierflow call`` and ``tierflow run`` on stderr: which model served, the
route or split variant, any fallback and why, tokens, cost and time; silenced by ``--quiet``; the
same facts in ``--json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.splits import SplitEntry
from tierflow.testing import Answer, LLMTestServer, Status

runner = CliRunner()


@pytest.fixture
def cfg(srv: LLMTestServer, tmp_path: Path) -> Path:
    srv.reset()
    path = tmp_path / "tierflow.yaml"
    path.write_text(f"""
providers:
  srv: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: test}}
models:
  - {{role: primary, ref: srv, model: a, fallback: [{{ref: srv, model: b}}]}}
  - {{role: fast, ref: srv, model: c}}
  - {{role: chat, split: [{{role: primary, weight: 0.5}}, {{role: fast, weight: 0.5}}]}}
reliability: {{max_retries: 1, backoff_initial_s: 0.001, backoff_max_s: 0.002}}
prices: {{"srv/*": {{input_per_mtok: 1, output_per_mtok: 2}}}}
""")
    return path


def call(cfg: Path, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, ["call", "--config", str(cfg), *args], prog_name="tierflow")
    return res.exit_code, res.stdout, res.stderr


def test_a_call_summarises_model_tokens_cost_and_time(cfg: Path, srv: LLMTestServer) -> None:
    srv.script("c", [Answer("four", input_tokens=100, output_tokens=50)])
    code, out, err = call(cfg, "--role", "fast", "2+2?")
    assert code == 0 and out == "four\n"
    assert re.fullmatch(r"tierflow: fast -> srv/c \| 100\+50 tokens \| \$0\.000200 \| \d+\.\d\d s\n", err), err


def test_a_fallback_is_announced_with_why(cfg: Path, srv: LLMTestServer) -> None:
    srv.script("a", [Status(503), Status(503)])  # the first target fails twice (one retry): b serves
    code, out, err = call(cfg, "hello")
    assert code == 0 and out == "echo: hello\n"
    assert err.startswith("tierflow: primary -> srv/b (fallback: srv/a ServerError HTTP 503 x2) | "), err


def test_quiet_prints_only_the_answer_and_json_carries_the_fallback(cfg: Path, srv: LLMTestServer) -> None:
    srv.script("a", [Status(503), Status(503)])
    code, out, err = call(cfg, "--quiet", "hello")
    assert (code, out, err) == (0, "echo: hello\n", "")
    srv.script("a", [Status(503), Status(503)])
    code, out, err = call(cfg, "--json", "-q", "hello")
    record = json.loads(out)
    assert err == "" and record["fallback"] is True and record["first_target"] == "srv/a"
    assert record["model_used"] == "srv/b" and record["variant"] is None
    code, out, _ = call(cfg, "--json", "-q", "hello")
    assert json.loads(out)["fallback"] is False


def test_split_key_keeps_a_caller_on_its_variant_and_the_summary_names_it(cfg: Path) -> None:
    split = SplitEntry.model_validate({"role": "chat", "split": [{"role": "primary", "weight": 0.5},
                                                                 {"role": "fast", "weight": 0.5}]})
    for key in ("alice", "bob", "carol", "dave"):
        variant = split.choose(key)
        model = "srv/a" if variant == "primary" else "srv/c"
        for _ in range(2):
            code, out, err = call(cfg, "--role", "chat", "--split-key", key, "hi")
            assert code == 0 and err.startswith(f"tierflow: chat [split: variant {variant}] -> {model} | "), err
        code, out, _ = call(cfg, "--role", "chat", "--split-key", key, "--json", "hi")
        record = json.loads(out)
        assert (record["role"], record["variant"], record["model_used"]) == ("chat", variant, model)
    assert {split.choose(k) for k in ("alice", "bob", "carol", "dave")} == {"primary", "fast"}


def test_streamed_calls_are_summarised_after_the_stream(cfg: Path) -> None:
    code, out, err = call(cfg, "--role", "fast", "--stream", "a b")
    assert code == 0 and out == "echo: a b\n" and err.startswith("tierflow: fast -> srv/c | ")


def test_models_list_and_config_check_show_the_split(cfg: Path) -> None:
    res = runner.invoke(app, ["models", "list", "--config", str(cfg)])
    assert res.exit_code == 0 and re.search(r"^chat\s+split: primary 50%, fast 50%$", res.stdout, re.M), res.stdout
    res = runner.invoke(app, ["config", "check", str(cfg)])
    assert res.exit_code == 0 and "2 model roles, 1 split, 0 routed" in res.stdout


FLOW = {
    "schema_version": 1,
    "config": {"core_identity": {"name": "ab", "models": [
        {"role": "primary", "ref": "srv", "model": "a", "fallback": [{"ref": "srv", "model": "b"}]},
        {"role": "fast", "ref": "srv", "model": "c"},
        {"role": "chat", "split": [{"role": "primary", "weight": 1}, {"role": "fast", "weight": 1}]}]}},
    "nodes": [
        {"id": "start", "kind": "entry"},
        {"id": "ask", "kind": "prompt", "config": {"user": "{question}"}},
        {"id": "first", "kind": "llm", "config": {"llm_role": "primary"}, "outputs": {"content": "first"}},
        {"id": "second", "kind": "llm", "config": {"llm_role": "chat"},
         "inputs": {"messages": {"ref": "ask.messages"}, "split_key": {"ref": "input.user"}},
         "outputs": {"content": "second"}},
        {"id": "end", "kind": "exit"},
    ],
    "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "first"},
              {"source": "first", "target": "second"}, {"source": "second", "target": "end"}],
}


def test_run_summarises_the_run_with_its_fallbacks_and_variants(cfg: Path, srv: LLMTestServer,
                                                               tmp_path: Path) -> None:
    flow = tmp_path / "ab.flow.json"
    flow.write_text(json.dumps(FLOW))
    project = tmp_path / "project.yaml"
    project.write_text(yaml.safe_dump({"providers": {"srv": {"kind": "openai", "base_url": f"{srv.base_url}/v1",
                                                             "api_key": "t"}},
                                       "models": [{"role": "unused", "ref": "srv", "model": "x"}],
                                       "reliability": {"max_retries": 0},
                                       "prices": {"srv/*": {"input_per_mtok": 1, "output_per_mtok": 2}}}))
    variant = SplitEntry.model_validate(FLOW["config"]["core_identity"]["models"][2]).choose("u7")
    srv.script("a", [Status(500)])
    args = ["run", str(flow), "--config", str(project), "--input", '{"question": "hi", "user": "u7"}']
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert "first: echo: hi" in res.stdout
    last = res.stderr.strip().splitlines()[-1]
    assert re.match(r"tierflow: run ok in \d+\.\d\d s \| 2 calls \| \d+ tokens \| \$\d\.\d{6} \| models: ", last), last
    assert "node 'first' fallback to srv/b (srv/a ServerError HTTP 500)" in last
    assert f"node 'second' split chat -> {variant}" in last
    assert re.search(r"^  first .*\(fallback to srv/b", res.stderr, re.M)
    quiet = runner.invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == "" and "first: echo: hi" in quiet.stdout
    srv.script("a", [Status(500)])
    data = json.loads(runner.invoke(app, [*args, "--json", "-q"]).stdout)
    assert data["nodes"]["first"]["fallback"] is True and data["nodes"]["first"]["first_targets"] == ["srv/a"]
    assert data["nodes"]["second"]["variants"] == [variant] and data["nodes"]["second"]["fallback"] is False
