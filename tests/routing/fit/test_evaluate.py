"""The evaluation report on tables whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.curves import OperatingPoints
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.fit.evaluate import evaluate
from tierflow.routing.fit.metrics import METRIC_KEYS, TWO_MODEL_KEYS


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


def _draw(n: int, seed: int) -> OutcomeTable:
    """``n`` prompts from a population where a cheap model (cost 1) is right with p 0.6 and a strong one
    (cost 4) with p 0.9, independently."""
    rng = np.random.default_rng(seed)
    scores = (rng.random((n, 2)) < [0.6, 0.9]).astype(float)
    return OutcomeTable([f"q{i}" for i in range(n)], [f"prompt {i}" for i in range(n)], ["t"] * n,
                        ["cheap", "strong"], scores, np.tile([1.0, 4.0], (n, 1)))


def _always_strong(table: OutcomeTable) -> OperatingPoints:
    return OperatingPoints(table.scores[:, 1][None, :], table.costs[:, 1][None, :], np.ones((1, table.n)))


def test_bootstrap_intervals_cover_the_population_figure_at_their_level_and_narrow_as_1_over_root_n():
    # population figures of "always the strong model": quality 0.9; AIQ, its hull from the cheapest
    # model's point (1, 0.6) to (4, 0.9) over c_max 4: 3 * (0.6 + 0.9) / 2 / 4
    true = {"max_quality": 0.9, "aiq": 3 * 1.5 / 2 / 4}
    covered = dict.fromkeys(true, 0)
    widths: dict[int, list[float]] = {100: [], 400: []}
    for seed in range(20):
        report = evaluate(_always_strong(t := _draw(100, seed)), t, t, bootstrap=100, seed=seed)["router"]
        for key, value in true.items():
            lo, hi = report[f"{key}_ci95"]
            covered[key] += lo <= value <= hi
        widths[100].append(report["max_quality_ci95"][1] - report["max_quality_ci95"][0])
    for seed in range(6):
        report = evaluate(_always_strong(t := _draw(400, 100 + seed)), t, t, bootstrap=100, seed=seed)["router"]
        widths[400].append(report["max_quality_ci95"][1] - report["max_quality_ci95"][0])
    assert all(count >= 16 for count in covered.values()), covered  # 95 % intervals: about 19 of 20
    theory = 2 * 1.96 * np.sqrt(0.9 * 0.1 / 100)  # the normal interval of a proportion
    assert np.mean(widths[100]) == pytest.approx(theory, rel=0.2)
    assert np.mean(widths[400]) / np.mean(widths[100]) == pytest.approx(0.5, abs=0.1)  # 4x the prompts: half


def test_prompts_missing_a_models_outcome_are_left_out_of_scoring(two_topic):
    from tierflow.errors import RoutingError
    from tierflow.routing.fit.evaluate import evaluate_router
    from tierflow.routing.fit.train import fit_router
    from tierflow.routing.targets import CalibrationTarget

    sparse = two_topic.subset(range(two_topic.n))
    sparse.scores[::3, 1] = np.nan  # the strong model was not run on every third prompt
    complete = sparse.complete_rows()
    assert len(complete) == two_topic.n - len(range(0, two_topic.n, 3))
    router = fit_router(sparse, "knn", embedder="hashing", target=CalibrationTarget(quality=1.0))
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
