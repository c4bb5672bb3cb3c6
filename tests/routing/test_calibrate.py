"""Calibration to a quality floor, a budget or a strong-model share; unreachable targets fail."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.calibrate import Target, fold_ids, retarget
from tierflow.routing.outcomes import OutcomeTable
from tierflow.routing.pipeline import fit_router


def test_quality_floor_picks_the_cheapest_setting_that_meets_it(two_topic):
    router = fit_router(two_topic, "task", embedder="hashing", target=Target(quality=1.0), strict_target=True)
    cal = router.calibration
    assert cal["expected_quality"] == pytest.approx(1.0)
    assert cal["expected_cost"] == pytest.approx(5.5e-4)  # not the strong model everywhere (1e-3)
    lo, hi = cal["expected_cost_ci95"]
    assert lo <= cal["expected_cost"] <= hi


def test_budget_and_strong_share(two_topic):
    cheap = fit_router(two_topic, "task", embedder="hashing", target=Target(max_cost_per_1k=0.1),
                       strict_target=True)
    assert cheap.calibration["expected_cost"] * 1000 <= 0.1 + 1e-12
    assert cheap.calibration["expected_quality"] == pytest.approx(0.5)
    share = fit_router(two_topic, "task", embedder="hashing", target=Target(strong_share=0.5), strict_target=True)
    assert share.calibration["expected_strong_share"] <= 0.5
    assert share.calibration["expected_quality"] == pytest.approx(1.0)


def test_unreachable_targets_are_refused_with_the_reachable_figure(two_topic):
    with pytest.raises(RoutingError, match="the most this router reaches is 1.0000"):
        fit_router(two_topic, "task", embedder="hashing", target=Target(quality=1.2), strict_target=True)
    with pytest.raises(RoutingError, match="Raise the budget"):
        fit_router(two_topic, "task", embedder="hashing", target=Target(max_cost_per_1k=0.01), strict_target=True)


def test_an_unreachable_soft_target_falls_back_to_the_best_reachable_setting(two_topic):
    router = fit_router(two_topic, "task", embedder="hashing", target=Target(quality=1.2))
    cal = router.calibration
    assert "out of reach" in cal["note"] and cal["target"] == {"quality": 1.2}
    assert cal["expected_quality"] == pytest.approx(1.0)
    assert cal["expected_cost"] == pytest.approx(5.5e-4)  # the cheapest of the best settings
    for key in ("expected_quality", "expected_cost"):  # the intervals belong to the chosen setting
        lo, hi = cal[f"{key}_ci95"]
        assert lo <= cal[key] <= hi


def test_retarget_uses_the_stored_curve(two_topic):
    router = fit_router(two_topic, "task", embedder="hashing", target=Target(quality=1.0))
    cheapest = retarget(router, Target(max_cost_per_1k=0.1))
    assert cheapest != router.knob


@pytest.mark.parametrize("kwargs", [{}, {"quality": 0.9, "strong_share": 0.2}, {"strong_share": 2.0}])
def test_target_validation(kwargs):
    with pytest.raises(RoutingError):
        Target(**kwargs)


TOPICS = ["algebra equation solve variable", "sonnet verse rhyme stanza", "enzyme protein cell membrane",
          "treaty empire dynasty war", "contract tort liability court", "galaxy orbit planet telescope"]


def topics_table(per_topic: int = 30) -> OutcomeTable:
    """Six topics; the cheap model is right on every prompt of topics 0, 2, 4 and wrong on the others,
    so what it can do on one topic says nothing about another."""
    prompts, tasks, cheap = [], [], []
    for t, words in enumerate(TOPICS):
        for i in range(per_topic):
            prompts.append(f"{words} question {i}")
            tasks.append(f"topic{t}")
            cheap.append(float(t % 2 == 0))
    n = len(prompts)
    scores = np.stack([np.array(cheap), np.ones(n)], axis=1)
    return OutcomeTable([f"p{i}" for i in range(n)], prompts, tasks, ["cheap", "strong"], scores,
                        np.tile([1e-4, 1e-3], (n, 1)))


def test_fold_ids_keep_each_task_whole_and_balance_the_folds():
    table = topics_table()
    fold = fold_ids(table, "task")
    for task in set(table.tasks):
        assert len(set(fold[[t == task for t in table.tasks]])) == 1
    assert sorted(np.bincount(fold)) == [30, 30, 30, 30, 60]  # six equal tasks over five folds
    three = table.subset(np.nonzero([t in ("topic0", "topic1", "topic2") for t in table.tasks])[0])
    assert sorted(set(fold_ids(three, "task"))) == [0, 1, 2]  # fewer tasks than folds: one fold each
    assert list(fold_ids(table, "prompt")[:6]) == [0, 1, 2, 3, 4, 0]
    one = table.subset(np.arange(30))
    with pytest.raises(RoutingError, match="at least 2 tasks; the outcomes have 1"):
        fold_ids(one, "task")
    with pytest.raises(RoutingError, match="expected 'prompt' or 'task', got 'topic'"):
        fit_router(table, "task", embedder="hashing", folds="topic")


def test_task_folds_promise_only_what_a_topic_never_seen_gets():
    table = topics_table()
    seen = fit_router(table, "task", embedder="hashing", target=Target(quality=1.0))
    assert seen.calibration["folds"] == "prompt"
    assert seen.calibration["expected_quality"] == pytest.approx(1.0)
    assert seen.calibration["expected_cost"] == pytest.approx(5.5e-4)  # cheap on half the topics
    unseen = fit_router(table, "task", embedder="hashing", target=Target(quality=1.0), folds="task")
    cal = unseen.calibration
    assert cal["folds"] == "task" and "whole tasks held out" in cal["method"]
    # a refit that never saw a topic routes it like the nearest topic it knows: the promise falls short of 1.0
    assert cal["expected_quality"] < 0.95
    assert "out of reach" in cal["note"]
    with pytest.raises(RoutingError, match="no setting reaches"):
        fit_router(table, "task", embedder="hashing", target=Target(quality=1.0), strict_target=True, folds="task")
