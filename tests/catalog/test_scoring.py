"""The 0-100 score derivation: additive benchmark index and the Elo line."""

from __future__ import annotations

import pytest

from tierflow.catalog.scoring import additive_index, fit_line, predict

BENCH = ("easy", "hard")


def test_complete_data_gives_the_plain_mean() -> None:
    scores = {"a": {"easy": 90.0, "hard": 50.0}, "b": {"easy": 70.0, "hard": 10.0}}
    idx = additive_index(scores, BENCH, 1)
    assert idx == {"a": pytest.approx(70.0), "b": pytest.approx(40.0)}


def test_a_model_scored_only_on_the_easy_test_is_not_flattered() -> None:
    scores = {"a": {"easy": 90.0, "hard": 50.0}, "b": {"easy": 70.0, "hard": 30.0}, "c": {"easy": 80.0}}
    idx = additive_index(scores, BENCH, 1)
    # the plain mean would give c 80; the easy test is 40 points above the hard one
    assert idx["c"] == pytest.approx(60.0, abs=0.5)
    assert idx["b"] < idx["c"] < idx["a"]


def test_too_few_benchmarks_are_left_out() -> None:
    scores = {"a": {"easy": 90.0, "hard": 50.0}, "c": {"easy": 80.0, "other": 3.0}}
    assert set(additive_index(scores, BENCH, 2)) == {"a"}


def test_fit_line_and_clamped_prediction() -> None:
    line = fit_line([(1000.0, 0.0), (1200.0, 40.0), (1400.0, 80.0)])
    assert line is not None
    assert predict(line, 1300.0) == pytest.approx(60.0)
    assert predict(line, 2000.0) == 100.0 and predict(line, 500.0) == 0.0
    assert fit_line([(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]) is None
    assert fit_line([(1.0, 1.0)]) is None
