"""The evaluation report on tables whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.evaluate import evaluate
from tierflow.routing.metrics import METRIC_KEYS, TWO_MODEL_KEYS, OperatingPoints


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


def test_prompts_missing_a_models_outcome_are_left_out_of_scoring(two_topic):
    from tierflow.errors import RoutingError
    from tierflow.routing.calibrate import Target
    from tierflow.routing.pipeline import evaluate_router, fit_router

    sparse = two_topic.subset(range(two_topic.n))
    sparse.scores[::3, 1] = np.nan  # the strong model was not run on every third prompt
    complete = sparse.complete_rows()
    assert len(complete) == two_topic.n - len(range(0, two_topic.n, 3))
    router = fit_router(sparse, "knn", embedder="hashing", target=Target(quality=1.0))
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
