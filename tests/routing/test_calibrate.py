"""Calibration to a quality floor, a budget or a strong-model share; unreachable targets fail."""

from __future__ import annotations

import pytest

from tierflow.errors import RoutingError
from tierflow.routing.calibrate import Target, retarget
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
