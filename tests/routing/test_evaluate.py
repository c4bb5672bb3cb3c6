"""Metrics and baselines on tables whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.evaluate import (METRIC_KEYS, TWO_MODEL_KEYS, OperatingPoints, aiq, evaluate,
                                       oracle_points, two_model_metrics, upper_hull)


def test_upper_hull_drops_dominated_and_concave_points():
    c = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    q = np.array([0.0, 0.2, 0.9, 0.8, 1.0])
    hc, hq = upper_hull(c, q)
    assert hc.tolist() == [0.0, 2.0, 4.0]  # (1, .2) under the chord, (3, .8) dominated/under
    assert hq.tolist() == [0.0, 0.9, 1.0]


def test_aiq_of_a_line_and_of_a_step():
    # a straight line from (0, 0) to (1, 1): the mean quality is 0.5
    assert aiq(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.0, 1.0) == pytest.approx(0.5)
    # full quality from the start: AIQ 1
    assert aiq(np.array([0.0]), np.array([1.0]), 0.0, 1.0) == pytest.approx(1.0)
    # anchored at the cheapest model (0, 0.2), one point (0.5, 1.0): area 0.5*0.6 + 0.5*1.0
    assert aiq(np.array([0.5]), np.array([1.0]), 0.0, 1.0, q_lo=0.2) == pytest.approx(0.8)


def test_two_model_metrics_random_is_half_and_oracle_more():
    share = np.linspace(0, 1, 11)
    random = two_model_metrics(share, 0.6 + 0.2 * share, 0.6, 0.8)
    assert random["apgr"] == pytest.approx(0.5, abs=1e-3)
    assert random["cpt50"] == pytest.approx(50, abs=0.6)
    assert random["cpt80"] == pytest.approx(80, abs=0.6)
    good = two_model_metrics(np.array([0.2]), np.array([0.8]), 0.6, 0.8)
    assert good["apgr"] > 0.85 and good["cpt50"] <= 10.5


def test_evaluate_perfect_router_equals_oracle(two_topic):
    n = two_topic.n
    is_math = np.array([t == "math" for t in two_topic.tasks])
    # the right router: math -> cheap, poem -> strong
    q = np.ones((1, n))
    c = np.where(is_math, 1e-4, 1e-3)[None, :]
    report = evaluate(OperatingPoints(q, c, (~is_math).astype(float)[None, :]), two_topic, two_topic, bootstrap=20)
    router, oracle = report["router"], report["baselines"]["oracle"]
    assert router["aiq"] == pytest.approx(oracle["aiq"], abs=1e-9)
    assert router["oracle_gap"] == pytest.approx(0.0, abs=1e-9)
    assert router["match_best_cost_pct"] == pytest.approx(55.0)
    assert set(METRIC_KEYS + TWO_MODEL_KEYS) <= set(router)
    assert report["baselines"]["random"]["apgr"] == pytest.approx(0.5, abs=0.1)
    assert report["baselines"]["per_task"]["aiq"] == pytest.approx(oracle["aiq"], abs=1e-9)  # task decides here
    assert report["baselines"]["best_single"]["match_best_cost_pct"] == pytest.approx(100.0)
    lo, hi = router["aiq_ci95"]
    assert lo <= router["aiq"] <= hi


def test_oracle_points_reach_full_quality(two_topic):
    pts = oracle_points(two_topic, strong_col=1)
    q, c, _ = pts.means()
    assert q.max() == 1.0
    assert c[np.argmax(q)] == pytest.approx(5.5e-4)


def test_prompts_missing_a_models_outcome_are_left_out_of_scoring(two_topic):
    from tierflow.errors import RoutingError
    from tierflow.routing.pipeline import evaluate_router, fit_router

    sparse = two_topic.subset(range(two_topic.n))
    sparse.scores[::3, 1] = np.nan  # the strong model was not run on every third prompt
    complete = sparse.complete_rows()
    assert len(complete) == two_topic.n - len(range(0, two_topic.n, 3))
    router = fit_router(sparse, "knn", embedder="hashing")
    assert router.calibration["n_prompts"] == len(complete)
    assert router.calibration["expected_quality"] == pytest.approx(1.0)  # unrecorded routes not counted as 0
    assert any("lack some model's outcome" in n for n in sparse.notes)
    cluster = fit_router(sparse, "cluster", embedder="hashing", params={"clusters": 2})
    assert cluster.cq[:, 1] == pytest.approx(1.0)  # the strong model's per-cluster mean counts recorded cells only
    report = evaluate_router(router, sparse, latency=False, bootstrap=20)
    assert report["n_prompts"] == len(complete)
    assert report["baselines"]["oracle"]["max_quality"] == pytest.approx(1.0)
    assert report["router"]["max_quality"] == pytest.approx(1.0)
    assert "left out" in report["notes"][0]
    with pytest.raises(RoutingError, match="no route can be scored"):
        evaluate_router(router, sparse.subset(range(0, two_topic.n, 3)), latency=False)
    sparse.scores[10:, 1] = np.nan
    with pytest.raises(RoutingError, match="only 6 of 120 prompts have a recorded outcome for every model"):
        fit_router(sparse, "knn", embedder="hashing")
