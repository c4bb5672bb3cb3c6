"""Which thresholds of a cascade chain are options, and where a chosen threshold sits."""

from __future__ import annotations

import numpy as np

from tierflow.routing.routers.cascade.chain import THRESHOLDS, middle_of_plateau, simulate, supported


def test_a_stage_that_accepts_a_handful_of_training_prompts_makes_no_option():
    # per threshold, prompts accepted at stage 0 and stage 1
    accepted = np.array([[40, 0], [3, 20], [0, 9], [0, 10], [0, 0], [12, 1]])
    assert supported(accepted, 10).tolist() == [True, False, False, True, True, False]
    assert supported(accepted, 1).all()


def test_simulate_counts_the_prompts_each_stage_accepts():
    probs = np.array([[0.9, 0.2, 0.5, 0.1], [0.0, 0.8, 0.6, 0.3]])  # stages x prompts
    qual, cum = np.ones((2, 4)), np.array([[1.0] * 4, [2.0] * 4])
    pts, accepted = simulate(probs, qual, cum, np.ones(4), np.full(4, 10.0), np.array([0.0, 0.55, 0.95]))
    assert accepted.tolist() == [[4, 0], [1, 2], [0, 0]]
    assert pts.cost[1].tolist() == [1.0, 2.0, 2.0, 12.0]


def _options(q_thresholds: list[float], c_thresholds: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Options of a chain with every threshold at quality 0.5 and cost 9 but those given from index 30."""
    q, c = np.full(len(THRESHOLDS) + 2, 0.5), np.full(len(THRESHOLDS) + 2, 9.0)
    q[30:30 + len(q_thresholds)], c[30:30 + len(c_thresholds)] = q_thresholds, c_thresholds
    return q, c


def test_a_chosen_threshold_sits_in_the_middle_of_the_thresholds_that_do_the_same():
    q, c = _options([1.0] * 11, [2.0] * 11)  # thresholds 0.30 ... 0.40 accept the same prompts
    ok = np.ones(len(q), bool)
    assert middle_of_plateau(q, c, ok, 30) == 35
    assert middle_of_plateau(q, c, ok, 40) == 35
    ok[38] = False  # an unsupported threshold ends the run
    assert middle_of_plateau(q, c, ok, 30) == 33
    assert middle_of_plateau(q, c, ok, 39) == 39
    assert middle_of_plateau(q, c, ok, len(THRESHOLDS)) == len(THRESHOLDS)  # a single model is no threshold


def test_a_run_reaching_either_end_of_the_grid_keeps_that_end():
    q, c = np.full(len(THRESHOLDS), 0.7), np.full(len(THRESHOLDS), 3.0)
    q[:20] = 0.6  # thresholds 0.00-0.19 accept the first stage's answer on every prompt
    q[90:] = 0.9  # from 0.90 nothing is accepted early
    ok = np.ones(len(q), bool)
    assert middle_of_plateau(q, c, ok, 5) == 0
    assert middle_of_plateau(q, c, ok, 95) == len(THRESHOLDS) - 1
    assert middle_of_plateau(q, c, ok, 50) == (20 + 89) // 2
