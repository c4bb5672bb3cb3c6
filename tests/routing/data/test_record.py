"""Recording outcomes: scorers, the questions file, and ``tierflow route record`` against the test server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.errors import RoutingError
from tierflow.routing.data.formats import read_long_jsonl
from tierflow.routing.data.record import read_questions, score_answer
from tierflow.testing import Answer, LLMTestServer, Status

SECRET = "sk-record-SECRET-1234567"
runner = CliRunner(env={"TF_REC_KEY": SECRET})


@pytest.mark.parametrize("answer, reference, right", [
    ("The sum is 405.", "405", True), ("137 + 268 = 405. So 405.", "405", True), ("It is 406", "405", False),
    ("#### 1,200", "1200", True), ("$1,200.00 in total", "$1200", True), ("12.5", "12.50", True),
    ("B", "B", True), ("(b)", "B", True), ("The answer is B.", "B", True), ("B) Paris", "B", True),
    ("A", "B", False), ("The answer is a trick", "A", False),
    ("The capital is Paris.", "Paris", True), ("Parisian food", "Paris", False), ("paris", "Paris", True),
])
def test_auto_scorer_compares_numbers_letters_and_phrases(answer, reference, right):
    assert score_answer(answer, reference) == float(right)


def test_named_scorers():
    assert score_answer("Paris.", "paris", "exact") == 1.0
    assert score_answer("It is Paris.", "paris", "exact") == 0.0
    assert score_answer("It is Paris.", "paris", "contains") == 1.0
    with pytest.raises(ValueError, match="unknown scorer 'fuzzy'"):
        score_answer("x", "x", "fuzzy")


def test_questions_file_problems_are_named_by_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join([json.dumps({"prompt": "Say Paris", "reference": "Paris"}),
                               json.dumps({"prompt": "no answer"}),
                               "{not json",
                               json.dumps({"prompt": "Say Paris", "reference": "Paris"}),
                               json.dumps({"prompt": "", "reference": 3})]) + "\n")
    with pytest.raises(RoutingError) as err:
        read_questions(path)
    text = str(err.value)
    assert "q.jsonl:2: reference" in text and "q.jsonl:3: not valid JSON" in text
    assert "q.jsonl:4: the same prompt (and no prompt_id) as line 1" in text and "q.jsonl:5: prompt" in text


@pytest.fixture(scope="module")
def srv() -> Iterator[LLMTestServer]:
    server = LLMTestServer.start_in_thread()
    yield server
    server.stop()


CAPITALS = ["Paris", "Rome", "Madrid", "Lisbon", "Vienna", "Oslo", "Dublin", "Athens", "Cairo", "Tokyo"]
SUMS = ["2 + 3", "1 + 4", "9 - 4", "10 / 2", "7 - 2", "6 - 1", "8 - 3", "3 + 2", "4 + 1", "15 / 3"]


@pytest.fixture
def setup(srv: LLMTestServer, tmp_path: Path) -> tuple[Path, Path]:
    """``fast`` echoes the question (right on "Say X"); ``strong`` always answers 5 (right on the sums)."""
    srv.reset()
    srv.set_default("strong-model", Answer("5"))
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text(f"""
providers:
  srv: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: "${{TF_REC_KEY}}"}}
models:
  - {{role: strong, ref: srv, model: strong-model}}
  - {{role: fast, ref: srv, model: fast-model}}
reliability: {{max_retries: 0, backoff_initial_s: 0.001, backoff_max_s: 0.002}}
prices: {{"srv/strong-model": {{input_per_mtok: 10, output_per_mtok: 30}},
          "srv/fast-model": {{input_per_mtok: 0.1, output_per_mtok: 0.1}}}}
""")
    questions = tmp_path / "questions.jsonl"
    rows = [{"prompt": f"Say {c}", "reference": c, "task": "say"} for c in CAPITALS]
    rows += [{"prompt": f"What is {s}?", "reference": "5", "task": "sum"} for s in SUMS]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return cfg, questions


def test_record_scores_answers_resumes_after_a_failure_and_fits(setup, srv: LLMTestServer, tmp_path: Path):
    cfg, questions = setup
    out = tmp_path / "out" / "outcomes.jsonl"
    srv.script("strong-model", [Status(500)])  # one call fails (no retries): not recorded, reported, rc 1
    args = ["route", "record", str(questions), "-o", str(out), "--role", "fast", "--role", "strong",
            "--config", str(cfg)]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    assert "recorded 39 outcome(s)" in res.output and "1 call(s) failed" in res.output
    assert "run the same command again" in res.output and SECRET not in res.output
    assert len(out.read_text().splitlines()) == 39

    res = runner.invoke(app, args)  # resumes: only the missing pair is asked
    assert res.exit_code == 0, res.output
    assert "recorded 1 outcome(s)" in res.output and "(39 already there)" in res.output
    assert srv.count("strong-model") == 21 and srv.count("fast-model") == 20

    table = read_long_jsonl(out)
    assert sorted(table.models) == ["fast", "strong"] and table.n == 20
    fast, strong = table.models.index("fast"), table.models.index("strong")
    say = [i for i, t in enumerate(table.tasks) if t == "say"]
    sums = [i for i, t in enumerate(table.tasks) if t == "sum"]
    assert table.scores[say, fast].tolist() == [1.0] * 10 and table.scores[sums, fast].tolist() == [0.0] * 10
    assert table.scores[say, strong].tolist() == [0.0] * 10 and table.scores[sums, strong].tolist() == [1.0] * 10
    assert (table.costs[:, strong] > 10 * table.costs[:, fast]).all()  # each call's own cost, from the prices

    router = tmp_path / "r.json"
    res = runner.invoke(app, ["route", "fit", str(out), "-o", str(router), "--split", "all", "--kind", "task",
                              "--embedder", "hashing"])
    assert res.exit_code == 0, res.output
    assert json.loads(router.read_text())["models"] == table.models


def test_record_refuses_an_unknown_role_before_any_call(setup, srv: LLMTestServer, tmp_path: Path):
    cfg, questions = setup
    out = tmp_path / "o.jsonl"
    res = runner.invoke(app, ["route", "record", str(questions), "-o", str(out), "--role", "fast",
                              "--role", "nope", "--config", str(cfg)])
    assert res.exit_code == 1 and "nope" in res.output
    assert not out.exists() and srv.count("fast-model") == 0


def test_record_writes_no_file_when_every_call_fails(setup, srv: LLMTestServer, tmp_path: Path):
    cfg, questions = setup
    srv.set_default("fast-model", Status(503))
    out = tmp_path / "new" / "o.jsonl"
    res = runner.invoke(app, ["route", "record", str(questions), "-o", str(out), "--role", "fast",
                              "--config", str(cfg)])
    assert res.exit_code == 1 and "20 call(s) failed" in res.output, res.output
    assert not out.parent.exists() and srv.count("fast-model") >= 1  # the rest are skipped by the open breaker


def test_record_refuses_an_output_file_of_other_questions(setup, tmp_path: Path):
    cfg, questions = setup
    out = tmp_path / "o.jsonl"
    first = read_questions(questions)[0]
    kept = json.dumps({"prompt_id": first.prompt_id, "prompt": "another prompt", "model": "fast", "score": 1})
    out.write_text(kept + "\n")
    res = runner.invoke(app, ["route", "record", str(questions), "-o", str(out), "--role", "fast",
                              "--config", str(cfg)])
    assert res.exit_code == 1 and "o.jsonl:1" in res.output and first.prompt_id in res.output
    assert out.read_text() == kept + "\n"  # nothing appended



def test_record_refuses_an_output_file_that_is_not_outcomes_naming_each_line(setup, tmp_path: Path):
    cfg, questions = setup
    out = tmp_path / "o.jsonl"
    text = "not json\n" + json.dumps({"question": "q"}) + "\n"
    out.write_text(text)
    res = runner.invoke(app, ["route", "record", str(questions), "-o", str(out), "--role", "fast",
                              "--config", str(cfg)])
    assert res.exit_code == 1, res.output
    assert "o.jsonl:1" in res.output and "not valid JSON" in res.output
    assert "o.jsonl:2" in res.output and "not an outcome line" in res.output
    assert out.read_text() == text  # nothing appended

def test_record_prices_calls_at_the_given_prices(setup, tmp_path: Path):
    cfg, questions = setup
    out, prices = tmp_path / "o.jsonl", tmp_path / "prices.yaml"
    prices.write_text("fast: [1, 2]\nsrv/strong-model: {input: 100, output: 200}\n")  # by role, by model
    res = runner.invoke(app, ["route", "record", str(questions), "-o", str(out), "-r", "fast", "-r", "strong",
                              "--config", str(cfg), "--prices", str(prices)])
    assert res.exit_code == 0, res.output
    for rec in map(json.loads, out.read_text().splitlines()):
        per_mtok = (1, 2) if rec["model"] == "fast" else (100, 200)
        expected = (rec["input_tokens"] * per_mtok[0] + rec["output_tokens"] * per_mtok[1]) / 1e6
        assert rec["input_tokens"] > 0 and rec["cost"] == pytest.approx(expected)
