"""``tierflow route fit / eval / split`` through the real CLI, on a table with a known answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.routing.data.formats import write_long_jsonl
from tierflow.routing.data.outcomes import OutcomeTable

runner = CliRunner()


def _table(n: int = 200) -> OutcomeTable:
    """Math prompts: the cheap model is right; poem prompts: only the strong one is."""
    prompts, tasks = [], []
    for i in range(n):
        topic = "sum add integers arithmetic total" if i % 2 == 0 else "sonnet rhyme verse autumn lyrical"
        prompts.append(f"{topic} case {i}")
        tasks.append("math" if i % 2 == 0 else "poem")
    is_math = np.array([t == "math" for t in tasks], dtype=float)
    return OutcomeTable([f"p{i}" for i in range(n)], prompts, tasks, ["cheap", "strong"],
                        np.stack([is_math, np.ones(n)], 1), np.tile([1e-4, 1e-3], (n, 1)))


@pytest.fixture
def outcomes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    path = tmp_path / "outcomes.jsonl"
    write_long_jsonl(_table(), path)
    return path


def test_fit_then_eval_json_plot_html(tmp_path, outcomes):
    router = tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(router), "--kind", "knn",
                              "--embedder", "hashing", "--target-quality", "1.0"])
    assert res.exit_code == 0, res.output
    assert router.exists() and (tmp_path / json.loads(router.read_text())["arrays"]["file"]).exists()
    assert "expected quality 1.0000" in res.output
    assert "stripped before embedding" not in res.output  # these prompts share no boilerplate
    saved = json.loads(router.read_text())["state"]["k_choice"]
    assert f"neighbours: the {saved['chosen']} nearest training prompts" in res.output
    assert f"k=5 {saved['brier_ratio']['5']:.3f}" in res.output
    res = runner.invoke(app, ["route", "eval", str(router), str(outcomes), "--json", "--bootstrap", "30",
                              "--plot", str(tmp_path / "p.png"), "--html", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert set(report["baselines"]) == {"best_single", "zero_router", "random", "per_task", "oracle"}
    for entry in [report["router"], *report["baselines"].values()]:
        assert {"aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap", "apgr", "cpt50",
                "cpt80"} <= set(entry)
    assert report["router"]["aiq"] == pytest.approx(report["baselines"]["oracle"]["aiq"], abs=1e-6)
    assert report["router"]["apgr"] > report["baselines"]["random"]["apgr"] + 0.2
    assert report["router"]["decision_latency_ms"]["median"] > 0
    point = report["router"]["calibrated_point"]  # target quality 1.0: poems to the strong model, sums to the cheap
    assert point["expected_quality"] == point["test_quality"] == 1.0
    assert 0.3 < point["test_strong_share"] < 0.7
    assert point["test_cost"] == pytest.approx(1e-4 + 9e-4 * point["test_strong_share"])
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "r.html").read_text()
    assert "<table>" in page and "Router evaluation (knn)" in page
    assert "calibrated point" in page and "decision latency" in page  # what the text report says below its table


def test_fit_to_a_target_between_settings_reports_the_mix(tmp_path, outcomes):
    router = tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(router), "--kind", "task",
                              "--embedder", "hashing", "--target-quality", "0.75"])
    assert res.exit_code == 0, res.output
    mix = json.loads(router.read_text())["knob"]["mix"]
    assert 0 < mix["share"] < 1
    assert f"(lambda={mix['value']} on {mix['share']:.1%} of prompts): expected quality 0.7500" in res.output
    res = runner.invoke(app, ["route", "eval", str(router), str(outcomes), "--json", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    knob = json.loads(res.output)["router"]["knob"]
    assert knob["mix"]["share"] == pytest.approx(mix["share"]) and knob["mix"]["knob"] == mix["value"]


def test_default_kind_auto_says_what_it_chose_and_eval_reports_it(tmp_path, outcomes):
    router = tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(router), "--embedder", "hashing"])
    assert res.exit_code == 0, res.output
    chosen = json.loads(router.read_text())["kind"]
    assert f"kind auto chose {chosen} by out-of-fold apgr" in res.output
    assert all(k in res.output for k in ("knn ", "cluster ", "linear ", "task ", "blend "))
    res = runner.invoke(app, ["route", "eval", str(router), str(outcomes), "--json", "--bootstrap", "10"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["router"]["kind"] == report["router"]["selection"]["chosen"] == chosen


def test_fit_counts_the_prompts_missing_some_models_outcome(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    table = _table()
    table.scores[:9, 0] = np.nan  # nine prompts without the cheap model's outcome
    write_long_jsonl(table, tmp_path / "o.jsonl")
    res = runner.invoke(app, ["route", "fit", str(tmp_path / "o.jsonl"), "-o", str(tmp_path / "r.json"),
                              "--kind", "knn", "--embedder", "hashing", "--split", "all"])
    assert res.exit_code == 0, res.output
    assert "fitted on 200 prompts, 191 with every model's outcome" in res.output


def test_fit_says_what_boilerplate_it_strips(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    table = _table()
    table.prompts = [p + "\nReply with one word and nothing else." for p in table.prompts]
    write_long_jsonl(table, tmp_path / "o.jsonl")
    res = runner.invoke(app, ["route", "fit", str(tmp_path / "o.jsonl"), "-o", str(tmp_path / "r.json"),
                              "--kind", "knn", "--embedder", "hashing"])
    assert res.exit_code == 0, res.output
    assert "0 prefix(es), 1 closing instruction(s)" in res.output  # both tasks end so: listed once
    assert json.loads((tmp_path / "r.json").read_text())["suffixes"] == ["\nReply with one word and nothing else."]


def test_text_report_and_split(outcomes, tmp_path):
    router = tmp_path / "r.json"
    assert runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(router), "--kind", "task",
                               "--embedder", "hashing"]).exit_code == 0
    res = runner.invoke(app, ["route", "eval", str(router), str(outcomes), "--bootstrap", "20", "--no-latency"])
    assert res.exit_code == 0 and "oracle" in res.output and "aiq" in res.output
    lines = res.output.splitlines()
    assert max(map(len, lines)) <= 100  # readable in a terminal: intervals go under their figures
    under_router = lines[next(i for i, line in enumerate(lines) if line.startswith("router ")) + 1]
    assert under_router.strip().startswith("[") and under_router.count("[") >= 3
    res = runner.invoke(app, ["route", "split", str(outcomes), "--split-by", "task"])
    info = json.loads(res.output)
    assert info["train"] + info["test"] == 200


def test_bad_scores_exit_1_and_write_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt_id": "a", "prompt": "p", "model": "m", "score": 3}) + "\n")
    res = runner.invoke(app, ["route", "fit", str(bad), "-o", str(tmp_path / "r.json"), "--embedder", "hashing"])
    assert res.exit_code == 1
    assert "bad.jsonl:1" in res.output and "outside [0, 1]" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "r.json").exists()


def test_unreachable_target_and_bad_usage(tmp_path, outcomes):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(out), "--embedder", "hashing",
                              "--target-quality", "1.3"])
    assert res.exit_code == 1 and "Lower the target" in res.output and not out.exists()
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(out), "--target-quality", "0.9",
                              "--strong-share", "0.2"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["route", "eval", str(outcomes), str(outcomes)])
    assert res.exit_code == 1 and "not a JSON router file" in res.output
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(out), "--folds", "topic"])
    assert res.exit_code == 2 and "--folds must be 'prompt' or 'task', got 'topic'" in res.output
    for cmd in (["fit", str(outcomes), "-o", str(out)], ["split", str(outcomes)]):
        res = runner.invoke(app, ["route", *cmd, "--test-share", "1.5"])
        assert res.exit_code == 2 and "--test-share must be at least 0 and below 1" in res.output
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(out), "--split", "auto"])
    assert res.exit_code == 2 and "one of ['train', 'test', 'all'], got 'auto'" in res.output  # eval's default only
    res = runner.invoke(app, ["route", "eval", str(out), str(outcomes), "--split", "held"])
    assert res.exit_code == 2 and "one of ['auto', 'train', 'test', 'all'], got 'held'" in res.output
    assert not out.exists()


def test_folds_by_task_hold_whole_tasks_out_and_need_two(tmp_path, outcomes, monkeypatch):
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(outcomes), "-o", str(out), "--embedder", "hashing", "--folds", "task"])
    assert res.exit_code == 0, res.output
    assert "(whole tasks held out)" in res.output
    assert json.loads(out.read_text())["calibration"]["folds"] == "task"
    one = _table()
    one.tasks[:] = ["only"] * one.n
    path = tmp_path / "one.jsonl"
    write_long_jsonl(one, path)
    bad = tmp_path / "bad.json"
    res = runner.invoke(app, ["route", "fit", str(path), "-o", str(bad), "--embedder", "hashing",
                              "--kind", "knn", "--folds", "task"])
    assert res.exit_code == 1 and "at least 2 tasks" in res.output and not bad.exists()


def _scores_json(path: Path, n: int = 120) -> Path:
    """RouterDC's shape (no costs): "small" is right on even prompts only, "large" always."""
    rows = [{"question": f"{'sum add integers' if i % 2 == 0 else 'sonnet rhyme verse'} case {i}",
             "scores": {"small": float(i % 2 == 0), "large": 1.0}} for i in range(n)]
    path.write_text(json.dumps(rows))
    return path


def test_a_table_without_costs_reports_quality_and_says_why_cost_metrics_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    data, router = _scores_json(tmp_path / "t_train.json"), tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(data), "-o", str(router), "--embedder", "hashing"])
    assert res.exit_code == 0, res.output
    assert "cost unknown" in res.output and "--prices" in res.output
    res = runner.invoke(app, ["route", "eval", str(router), str(data), "--json", "--bootstrap", "20", "--no-latency"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["costs_known"] is False
    assert report["router"]["aiq"] is None and report["router"]["match_best_cost_pct"] is None
    assert report["baselines"]["oracle"]["max_quality"] == pytest.approx(1.0)  # still chooses by quality
    assert report["router"]["max_quality"] == pytest.approx(1.0)
    # two models at equal (unknown) cost: APGR still measures by calls to the better one
    assert report["router"]["apgr"] > report["baselines"]["random"]["apgr"] + 0.2
    assert report["router"]["cpt50"] < report["baselines"]["random"]["cpt50"]
    text = runner.invoke(app, ["route", "eval", str(router), str(data), "--bootstrap", "20", "--no-latency",
                               "--html", str(tmp_path / "r.html")])
    assert "n/a" in text.output and "--prices FILE" in " ".join(text.output.split())  # notes wrap at 98 columns
    page = (tmp_path / "r.html").read_text()
    assert "n/a" in page and "never" not in page and "--prices FILE" in page
    res = runner.invoke(app, ["route", "eval", str(router), str(data), "--no-latency", "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 1 and "needs costs" in res.output and not (tmp_path / "p.png").exists()


def test_prices_file_gives_a_table_without_costs_its_costs(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    data, router = _scores_json(tmp_path / "t_train.json"), tmp_path / "r.json"
    prices = tmp_path / "prices.yaml"
    prices.write_text("small: [0.1, 0.1]\nlarge: {input: 10, output: 30}\n")
    res = runner.invoke(app, ["route", "fit", str(data), "-o", str(router), "--embedder", "hashing",
                              "--prices", str(prices)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["route", "eval", str(router), str(data), "--json", "--bootstrap", "20",
                              "--no-latency", "--prices", str(prices)])
    report = json.loads(res.output)
    assert report["costs_known"] is True
    small, large = report["single_models"]["small"]["cost"], report["single_models"]["large"]["cost"]
    assert large / small == pytest.approx((10 * report_tokens(data) + 30 * 8) / (0.1 * report_tokens(data) + 0.1 * 8),
                                          rel=0.05)
    assert report["router"]["aiq"] > report["baselines"]["random"]["aiq"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("small: [0.1]\nlarge: cheap\n")
    res = runner.invoke(app, ["route", "fit", str(data), "-o", str(tmp_path / "r2.json"), "--prices", str(bad)])
    assert res.exit_code == 1 and "bad.yaml: small" in res.output and "bad.yaml: large" in res.output
    assert not (tmp_path / "r2.json").exists()


def report_tokens(path: Path) -> float:
    """Mean estimated prompt tokens (chars / 4, rounded up) of a scores JSON file."""
    return float(np.mean([-(-len(r["question"]) // 4) for r in json.loads(path.read_text())]))


def test_a_price_file_missing_one_model_is_refused_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    data, router = _scores_json(tmp_path / "t_train.json"), tmp_path / "r.json"
    prices = tmp_path / "prices.yaml"
    prices.write_text("large: [10, 30]\n")  # "small" unpriced: it would silently count as $1 a call
    res = runner.invoke(app, ["route", "fit", str(data), "-o", str(router), "--embedder", "hashing",
                              "--prices", str(prices)])
    assert res.exit_code == 1, res.output
    assert "no price known for ['small']" in res.output and "--prices" in res.output
    assert "Traceback" not in res.output and not router.exists()


def test_eval_scores_only_prompts_the_router_was_not_fitted_on(tmp_path, outcomes):
    """The default --split auto: the held-out part of the router's own outcome files, all of a new file,
    and a refusal when every prompt was fitted on; an explicit split that overlaps says so."""
    router = tmp_path / "r.json"
    fit = ["route", "fit", str(outcomes), "-o", str(router), "--kind", "task", "--embedder", "hashing"]
    res = runner.invoke(app, fit)
    parts = json.loads(runner.invoke(app, ["route", "split", str(outcomes)]).output)
    assert res.exit_code == 0 and f"held out for `route eval`: the other {parts['test']} prompts" in res.output
    assert json.loads(router.read_text())["fitted_on"]["prompts"] == parts["train"]
    evals = ["route", "eval", str(router), str(outcomes), "--json", "--bootstrap", "10", "--no-latency"]
    auto, held = (json.loads(runner.invoke(app, evals + extra).output) for extra in ([], ["--split", "test"]))
    assert auto["split"]["evaluated"] == held["split"]["evaluated"] < 200
    assert auto["router"]["aiq"] == held["router"]["aiq"] and auto["baselines"] == held["baselines"]
    assert f"{200 - auto['split']['evaluated']} of 200 prompts were used to fit the router" in auto["notes"][0]
    assert held["notes"] == []  # the held-out part and the fitted prompts do not overlap
    every = json.loads(runner.invoke(app, evals + ["--split", "all"]).output)
    assert "were used to fit the router: its figures on them are optimistic" in every["notes"][0]

    other = tmp_path / "other.jsonl"  # new prompts of the same two topics
    table = _table(60)
    write_long_jsonl(OutcomeTable([f"n{i}" for i in range(60)], [p.replace("case", "new case") for p in table.prompts],
                                  table.tasks, table.models, table.scores, table.costs), other)
    on_other = ["route", "eval", str(router), str(other), "--json", "--bootstrap", "10", "--no-latency"]
    report = json.loads(runner.invoke(app, on_other).output)
    assert report["split"]["evaluated"] == 60 and "agreement_cascade" not in report["baselines"]
    assert report["notes"][0] == ("none of these 60 prompts was used to fit the router: evaluated on 60; the per_task "
                                  f"and agreement baselines were fitted on the {parts['train']} prompts the router "
                                  f"was fitted on ({outcomes.resolve()})")
    assert report["router"]["max_quality"] == pytest.approx(1.0)  # the task router still knows the topics
    outcomes.rename(tmp_path / "moved.jsonl")  # the router's own outcomes are gone: baselines fitted in sample
    report = json.loads(runner.invoke(app, on_other).output)
    assert "fitted on the evaluated prompts themselves, in sample" in report["notes"][0]
    (tmp_path / "moved.jsonl").rename(outcomes)

    fit_all = tmp_path / "all.json"
    assert runner.invoke(app, fit + ["--split", "all", "-o", str(fit_all)]).exit_code == 0
    res = runner.invoke(app, ["route", "eval", str(fit_all), str(outcomes), "--plot", str(tmp_path / "x.png")])
    assert res.exit_code == 1 and "fitted on all 200 prompts of these outcomes" in res.output
    assert not (tmp_path / "x.png").exists()
