"""The plain agreement cascade baseline on tables where its answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.curves import OperatingPoints
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.fit.agreement import agreeing_rows, agreement_curve, fit_agreement_cascade
from tierflow.routing.fit.evaluate import evaluate


def _table(n: int = 200, seed: int = 0) -> OutcomeTable:
    """Four cheap models and a strong one. c0..c2 agree (and are right) exactly on "easy" rows;
    c3 is cheap but answers at random, so any triple containing it agrees less often."""
    rng = np.random.default_rng(seed)
    responses, scores = [], []
    for i in range(n):
        truth = "ABCD"[i % 4]
        wrong = [c for c in "ABCD" if c != truth]
        easy = i % 5 != 0  # 80% easy
        row = [truth, truth, truth] if easy else [wrong[0], wrong[1], wrong[2]]
        row.append("ABCD"[rng.integers(4)])
        row.append(f"The answer is {truth}.\nBecause of reasons that take more than a short line to state.")
        responses.append(row)
        scores.append([float(r.startswith(truth)) if k < 4 else 1.0 for k, r in enumerate(row)])
    costs = np.tile([1e-4, 2e-4, 3e-4, 1e-5, 1e-2], (n, 1))
    return OutcomeTable([f"r{i}" for i in range(n)], [f"question {i}" for i in range(n)], ["mcq"] * n,
                        ["c0", "c1", "c2", "c3", "strong"], np.array(scores), costs, responses)


def test_agreement_cascade_picks_the_consistent_triple_and_charges_every_model():
    train, test = _table(200, 0), _table(100, 1)
    plan = fit_agreement_cascade(train)
    assert plan is not None
    assert plan.cheap == (0, 1, 2) and plan.strong == 4
    pts = plan.points(test)
    easy = np.arange(test.n) % 5 != 0
    assert agreeing_rows(test, plan.cheap).tolist() == easy.tolist()
    np.testing.assert_allclose(pts.quality[0], 1.0)  # right when they agree, strong model otherwise
    expected_cost = 6e-4 + np.where(easy, 0.0, 1e-2)
    np.testing.assert_allclose(pts.cost[0], expected_cost)
    np.testing.assert_allclose(pts.strong[0], (~easy).astype(float))


def test_agreement_curve_adds_the_single_models_and_needs_responses():
    train, test = _table(200, 0), _table(100, 1)
    curve, names = agreement_curve(train, test, strong_col=4)
    assert names == ["c0", "c1", "c2", "strong"]
    assert curve.quality.shape == (6, test.n)  # 5 single models + the cascade
    no_resp = OutcomeTable(train.ids, train.prompts, train.tasks, train.models, train.scores, train.costs)
    assert fit_agreement_cascade(no_resp) is None


def test_evaluate_reports_the_agreement_baseline_beside_the_router():
    train, test = _table(200, 0), _table(100, 1)
    router = OperatingPoints(test.scores[:, 4][None, :], test.costs[:, 4][None, :], np.ones((1, test.n)))
    report = evaluate(router, train, test, bootstrap=20)
    base = report["baselines"]["agreement_cascade"]
    assert base["models"] == ["c0", "c1", "c2", "strong"]
    # quality 1.0 at 6e-4 + 0.2 * 1e-2 = 2.6e-3, i.e. 26% of the strong model's cost
    assert base["match_best_cost_pct"] == pytest.approx(26.0)
    assert base["aiq"] > report["router"]["aiq"]
    assert base["aiq_ci95"][0] > report["router"]["aiq_ci95"][1]  # a gap this size is not resampling noise
