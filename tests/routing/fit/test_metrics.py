"""The metrics of a curve: two-model figures and the cost metrics, on curves known exactly (AIQ: test_curves.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.fit.metrics import Scale, cost_metrics, two_model_metrics


def test_two_model_metrics_random_is_half_and_oracle_more():
    share = np.linspace(0, 1, 11)
    random = two_model_metrics(share, 0.6 + 0.2 * share, 0.6, 0.8)
    assert random["apgr"] == pytest.approx(0.5, abs=1e-3)
    assert random["cpt50"] == pytest.approx(50, abs=0.6)
    assert random["cpt80"] == pytest.approx(80, abs=0.6)
    good = two_model_metrics(np.array([0.2]), np.array([0.8]), 0.6, 0.8)
    assert good["apgr"] > 0.85 and good["cpt50"] <= 10.5


def test_cost_metrics_use_routerbenchs_aiq_over_the_dearest_single_models_cost():
    # single models: cheapest (1, 0.5), best and dearest (4, 0.9); the router reaches 0.9 at cost 2
    scale = Scale(c_lo=1.0, c_hi=4.0, best_quality=0.9, best_cost=4.0, cheapest_quality=0.5)
    m = cost_metrics(np.array([0.9]), np.array([2.0]), scale, oracle_aiq=0.8)
    # hull (1, .5) -> (2, .9), flat to 4: area 0.7 + 1.8 = 2.5 over 4 (the range-normalised figure: 2.5 / 3)
    assert m["aiq"] == pytest.approx(2.5 / 4)
    assert m["oracle_gap"] == pytest.approx(0.8 - 2.5 / 4)
    assert m["match_best_cost_pct"] == pytest.approx(50.0)
    assert m["quality_at_20pct_cost"] == pytest.approx(0.5)  # 0.8 is left of the hull: its first point
