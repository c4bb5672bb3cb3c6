"""Pre-routing by a quality-cost trade-off, and the baselines every router must beat.

A pre-router predicts each model's quality and cost per prompt and, at each setting of its knob
``lam``, picks ``argmax(quality - lam * cost / cost_unit)``
(:func:`~tierflow.routing.curves.choose_by_tradeoff`); the choices become
:class:`~tierflow.routing.curves.OperatingPoints` through
:func:`~tierflow.routing.curves.points_from_choices`. The learned pre-routers
(:class:`~tierflow.routing.routers.base.PredictiveRouter`) and the baselines here share that rule:

- ``oracle``: knows every outcome and trades quality for cost per query;
- ``zero_router`` / ``best_single``: always one model (every model, or the best one);
- ``random``: the best model with probability p, else a uniformly random one;
- ``per_task``: per task seen in training, the model that trades best (global means otherwise).

The agreement cascade baseline is :mod:`tierflow.routing.fit.agreement`.
"""

from __future__ import annotations

import numpy as np

from tierflow.routing.curves import OperatingPoints, choose_by_tradeoff, points_from_choices
from tierflow.routing.data.outcomes import OutcomeTable


def _lambda_grid(n: int = 60) -> np.ndarray:
    return np.concatenate([[0.0], np.logspace(-4, 4, n), [np.inf]])


def oracle_points(table: OutcomeTable, strong_col: int) -> OperatingPoints:
    """The per-query oracle: knows every outcome, trades quality for cost per query."""
    unit = float(np.nanmean(table.costs)) or 1.0
    s = np.nan_to_num(table.scores, nan=-1.0)
    c = np.nan_to_num(table.costs, nan=np.inf)
    choices = np.stack([choose_by_tradeoff(s, c, lam, unit) for lam in _lambda_grid()])
    return points_from_choices(table, choices, strong_col)


def single_points(table: OutcomeTable, strong_col: int) -> OperatingPoints:
    """One knob setting per model: always route to that model."""
    choices = np.repeat(np.arange(len(table.models))[:, None], table.n, axis=1)
    return points_from_choices(table, choices, strong_col)


def random_points(table: OutcomeTable, best_col: int, strong_col: int, seed: int = 0) -> OperatingPoints:
    """Route to the best model with probability p, else to a uniformly random model (p from 0 to 1)."""
    rng = np.random.default_rng(seed)
    u = rng.random(table.n)
    other = rng.integers(0, len(table.models), table.n)
    choices = np.stack([np.where(u < p, best_col, other) for p in np.linspace(0, 1, 21)])
    return points_from_choices(table, choices, strong_col)


def task_points(train: OutcomeTable, test: OutcomeTable, strong_col: int) -> OperatingPoints:
    """Per-task baseline: per task seen in training, the model that trades best; else global means."""
    glob_q, glob_c = np.nanmean(train.scores, 0), np.nanmean(train.costs, 0)
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    tasks = np.array(train.tasks)
    for t in set(train.tasks):
        rows = tasks == t
        stats[t] = (np.nanmean(train.scores[rows], 0), np.nanmean(train.costs[rows], 0))
    qhat = np.stack([stats.get(t, (glob_q, glob_c))[0] for t in test.tasks])
    chat = np.stack([stats.get(t, (glob_q, glob_c))[1] for t in test.tasks])
    chat = np.where(np.isnan(chat), glob_c[None, :], chat)
    unit = float(np.nanmean(glob_c)) or 1.0
    choices = np.stack([choose_by_tradeoff(qhat, chat, lam, unit) for lam in _lambda_grid()])
    return points_from_choices(test, choices, strong_col)
