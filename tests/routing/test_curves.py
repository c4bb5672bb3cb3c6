"""Operating points' hulls and AIQ, on curves whose hull and area are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.curves import aiq, range_aiq, upper_hull


def test_upper_hull_drops_dominated_and_concave_points():
    c = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    q = np.array([0.0, 0.2, 0.9, 0.8, 1.0])
    hc, hq = upper_hull(c, q)
    assert hc.tolist() == [0.0, 2.0, 4.0]  # (1, .2) under the chord, (3, .8) dominated/under
    assert hq.tolist() == [0.0, 0.9, 1.0]


def test_aiq_is_the_area_from_the_cheapest_point_extended_flat_over_the_dearest_single_models_cost():
    # hull (1, .5) -> (3, .9), flat to 4: area 2 * 0.7 + 1 * 0.9 = 2.3, over c_max 4
    assert aiq(np.array([1.0, 3.0, 2.5]), np.array([0.5, 0.9, 0.6]), 4.0) == pytest.approx(2.3 / 4)
    # the area left of the cheapest point does not count: one point at cost 2 of 4 covers half
    assert aiq(np.array([2.0]), np.array([0.8]), 4.0) == pytest.approx(0.4)
    # an anchor (everything to the cheapest model) starts the hull there
    assert aiq(np.array([2.0]), np.array([0.8]), 4.0, anchor=(1.0, 0.4)) == pytest.approx((0.6 + 1.6) / 4)
    # a point dearer than c_max shapes the hull only up to c_max
    assert aiq(np.array([0.0, 2.0]), np.array([0.0, 1.0]), 1.0) == pytest.approx(0.25)
    # a curve that starts at or beyond c_max covers nothing
    assert aiq(np.array([5.0]), np.array([1.0]), 4.0) == 0.0


def test_range_aiq_averages_the_hull_over_the_models_cost_range():
    assert range_aiq(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.0, 1.0) == pytest.approx(0.5)
    assert range_aiq(np.array([0.0]), np.array([1.0]), 0.0, 1.0) == pytest.approx(1.0)
    # anchored at the cheapest model (0, 0.2), one point (0.5, 1.0): area 0.5*0.6 + 0.5*1.0
    assert range_aiq(np.array([0.5]), np.array([1.0]), 0.0, 1.0, q_lo=0.2) == pytest.approx(0.8)


@pytest.mark.parametrize("seed", range(5))
def test_on_a_curve_from_the_cheapest_model_aiq_is_the_range_figure_scaled_by_the_range_share(seed):
    rng = np.random.default_rng(seed)
    c_lo, c_hi, q_lo = 0.1, 2.0, 0.3
    cost, quality = rng.uniform(c_lo, 3.0, 12), rng.uniform(0.3, 1.0, 12)
    old = range_aiq(cost, quality, c_lo, c_hi, q_lo)
    assert aiq(cost, quality, c_hi, anchor=(c_lo, q_lo)) == pytest.approx(old * (c_hi - c_lo) / c_hi)
