"""Calibration to a quality floor, a budget or a strong-model share; unreachable targets fail."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.curves import OperatingPoints
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.fit.calibrate import at_own_cost, fold_ids
from tierflow.routing.fit.train import fit_router
from tierflow.routing.targets import CalibrationTarget, choose_knob, retarget


def test_quality_floor_picks_the_cheapest_setting_that_meets_it(two_topic):
    router = fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(quality=1.0), strict_target=True)
    cal = router.calibration
    assert cal["expected_quality"] == pytest.approx(1.0)
    assert cal["expected_cost"] == pytest.approx(5.5e-4)  # not the strong model everywhere (1e-3)
    _assert_interval_of_a_two_valued_mean(cal["expected_cost_ci95"], n=two_topic.n)


def _assert_interval_of_a_two_valued_mean(ci: list[float], n: int) -> None:
    """The bootstrap interval of a mean of ``n`` costs, half 1e-4 and half 1e-3 (routed by topic): centred on
    5.5e-4, as wide as the normal interval of a mean whose values have standard deviation 4.5e-4."""
    lo, hi = ci
    se = 4.5e-4 / np.sqrt(n)
    assert (lo + hi) / 2 == pytest.approx(5.5e-4, abs=se / 2)
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_budget_and_strong_share(two_topic):
    cheap = fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(max_cost_per_1k=0.1),
                       strict_target=True)
    assert cheap.calibration["expected_cost"] * 1000 <= 0.1 + 1e-12
    assert cheap.calibration["expected_quality"] == pytest.approx(0.5)
    share = fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(strong_share=0.5), strict_target=True)
    assert share.calibration["expected_strong_share"] <= 0.5
    assert share.calibration["expected_quality"] == pytest.approx(1.0)


def test_unreachable_targets_are_refused_with_the_reachable_figure(two_topic):
    with pytest.raises(RoutingError, match="the most this router reaches is 1.0000"):
        fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(quality=1.2), strict_target=True)
    with pytest.raises(RoutingError, match="Raise the budget"):
        fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(max_cost_per_1k=0.01), strict_target=True)


def test_an_unreachable_soft_target_falls_back_to_the_best_reachable_setting(two_topic):
    router = fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(quality=1.2))
    cal = router.calibration
    assert "out of reach" in cal["note"] and cal["target"] == {"quality": 1.2}
    assert cal["expected_quality"] == pytest.approx(1.0)
    assert cal["expected_cost"] == pytest.approx(5.5e-4)  # the cheapest of the best settings
    # the intervals belong to the chosen setting: every prompt right, half of them at the strong model's cost
    assert cal["expected_quality_ci95"] == [1.0, 1.0]
    _assert_interval_of_a_two_valued_mean(cal["expected_cost_ci95"], n=two_topic.n)


def test_own_cost_is_credited_with_the_refits_hull_at_that_cost():
    # refit settings on 4 prompts: cost 1 -> quality 0.5, cost 1.5 -> 0.5 (under the hull), cost 2 -> 1.0
    refit = OperatingPoints(np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], float),
                            np.array([[1.0] * 4, [1.5] * 4, [2.0] * 4]), np.zeros((3, 4)))
    own_cost = [0.5, 1.0, 1.5, 1.999, 2.0, 3.0]
    own = OperatingPoints(np.zeros((6, 4)), np.repeat(np.array(own_cost)[:, None], 4, 1), np.ones((6, 4)))
    pts = at_own_cost(refit, own)
    q, c, s = pts.means()
    # a cost a hair under a setting's is credited with nearly its quality, not the next one down
    assert q == pytest.approx([0.5, 0.5, 0.75, 0.9995, 1.0, 1.0])
    assert c.tolist() == own_cost and s.tolist() == [1.0] * 6  # cost and share stay the router's own
    assert pts.quality[3] == pytest.approx([1.0, 0.999, 1.0, 0.999])  # per prompt: the mix of two settings


def test_a_target_between_two_settings_is_met_by_mixing_them():
    # settings: cheap (q 0.5, cost 1e-3, never strong), middle (0.6, 2.5e-3: under the chord), strong (1.0, 3e-3)
    q, c, s = np.array([0.5, 0.6, 1.0]), np.array([1e-3, 2.5e-3, 3e-3]), np.array([0.0, 0.5, 1.0])
    # a floor of 0.75: half the prompts at the strong setting (cost 2e-3), not all of them at it (3e-3)
    assert choose_knob(q, c, s, CalibrationTarget(quality=0.75), 1.0) == pytest.approx((0, 2, 0.5))
    # the knob is the setting most prompts take: a floor of 0.9 puts 80 % on the strong setting
    assert choose_knob(q, c, s, CalibrationTarget(quality=0.9), 1.0) == pytest.approx((2, 0, 0.2))
    assert choose_knob(q, c, s, CalibrationTarget(max_cost_per_1k=1.5), 1.0) == pytest.approx((0, 2, 0.25))
    assert choose_knob(q, c, s, CalibrationTarget(strong_share=0.1), 1.0) == pytest.approx((0, 2, 0.1))
    assert choose_knob(q, c, s, CalibrationTarget(max_cost_per_1k=3.0), 1.0) == (2, 2, 0.0)  # a setting fits exactly
    with pytest.raises(RoutingError, match="Raise the budget"):
        choose_knob(q, c, s, CalibrationTarget(max_cost_per_1k=0.5), 1.0)


def test_a_calibrated_mix_routes_a_fixed_share_of_prompts_at_the_other_setting(two_topic, tmp_path):
    from tierflow.routing.features.prompts import embed_prompts
    from tierflow.routing.fit.evaluate import evaluate_router
    from tierflow.routing.io import load_router, save_router
    from tierflow.routing.routers.base import mix_draw

    # between "all cheap" (0.5) and "by topic" (1.0): a floor of 0.75 takes each for about half the prompts
    router = fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(quality=0.75), strict_target=True)
    cal = router.calibration
    assert cal["mix"] is not None and router.mix == (cal["mix"]["knob"], cal["mix"]["share"])
    assert cal["expected_quality"] == pytest.approx(0.75, abs=1e-6)
    assert cal["expected_cost"] == pytest.approx((1e-4 + 5.5e-4) / 2, rel=1e-6)  # not 5.5e-4: half the strong calls
    loaded = load_router(save_router(router, tmp_path / "r.json"))
    assert loaded.mix == router.mix and loaded.knob == router.knob
    # live, a prompt takes the other setting when its fixed draw is under the share, every time
    other, share = router.mix
    for p in two_topic.prompts:
        assert loaded.knob_for(p) == (other if mix_draw(p) < share else router.knob) == router.knob_for(p)
    # route eval scores the calibrated point prompt by prompt as live routing takes it
    pts = router.calibrated_points(two_topic, embed_prompts(router, two_topic.prompts))
    solo = {k: router.points(two_topic, embed_prompts(router, two_topic.prompts), np.array([k])) for k in (router.knob, other)}
    for i, p in enumerate(two_topic.prompts):
        assert pts.cost[0, i] == solo[router.knob_for(p)].cost[0, i]
    point = evaluate_router(router, two_topic, latency=False, bootstrap=0)["router"]["calibrated_point"]
    assert point["test_cost"] == pytest.approx(pts.cost.mean()) and 0.6 < point["test_quality"] < 0.9
    # re-targeting from the stored curve gives the same mix
    assert retarget(router, CalibrationTarget(quality=0.75)) == (router.knob, router.mix)


def test_retarget_uses_the_stored_curve(two_topic):
    router = fit_router(two_topic, "task", embedder="hashing", target=CalibrationTarget(quality=1.0))
    cheapest, _ = retarget(router, CalibrationTarget(max_cost_per_1k=0.1))
    assert cheapest != router.knob


@pytest.mark.parametrize("kwargs", [{}, {"quality": 0.9, "strong_share": 0.2}, {"strong_share": 2.0}])
def test_target_validation(kwargs):
    with pytest.raises(RoutingError):
        CalibrationTarget(**kwargs)


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
    seen = fit_router(table, "task", embedder="hashing", target=CalibrationTarget(quality=1.0))
    assert seen.calibration["folds"] == "prompt"
    assert seen.calibration["expected_quality"] == pytest.approx(1.0)
    assert seen.calibration["expected_cost"] == pytest.approx(5.5e-4)  # cheap on half the topics
    unseen = fit_router(table, "task", embedder="hashing", target=CalibrationTarget(quality=1.0), folds="task")
    cal = unseen.calibration
    assert cal["folds"] == "task" and "whole tasks held out" in cal["method"]
    # a refit that never saw a topic routes it like the nearest topic it knows: the promise falls short of 1.0
    assert cal["expected_quality"] < 0.95
    assert "out of reach" in cal["note"]
    with pytest.raises(RoutingError, match="no setting reaches"):
        fit_router(table, "task", embedder="hashing", target=CalibrationTarget(quality=1.0), strict_target=True, folds="task")
