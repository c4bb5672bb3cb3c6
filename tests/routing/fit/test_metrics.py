"""Curve metrics on curves whose hull and area are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.metrics import aiq, two_model_metrics, upper_hull


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
