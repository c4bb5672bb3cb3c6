"""The report of ``route eval``: a router's metrics beside its baselines', with bootstrap CIs.

The router's curve and every baseline's are scored on the same prompts, through the same hull,
anchor and normalisation (a :class:`~tierflow.routing.metrics.Scale` taken from the evaluated
prompts), by the metrics defined in :mod:`tierflow.routing.metrics`: ``aiq``,
``match_best_cost_pct``, ``quality_at_20pct_cost``, ``oracle_gap``, ``max_quality`` and, on
two-model tables, ``apgr``, ``cpt50`` and ``cpt80``. Each metric gets a 95% bootstrap CI over
resampled prompts.

Baselines: ``best_single``, ``zero_router`` (every single model; its hull is the linear
interpolation of single models), ``random``, ``per_task``, ``oracle``
(:mod:`tierflow.routing.baselines`) and, when responses were recorded, ``agreement_cascade``
(:mod:`tierflow.routing.agreement`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from tierflow.routing.agreement import agreement_curve
from tierflow.routing.baselines import (
    oracle_points,
    random_points,
    single_points,
    task_points,
)
from tierflow.routing.metrics import (
    METRIC_KEYS,
    TWO_MODEL_KEYS,
    OperatingPoints,
    Scale,
    curve_metrics,
)
from tierflow.routing.outcomes import OutcomeTable


def _column_means(x: np.ndarray) -> np.ndarray:
    """Per-column mean of the known cells; NaN for a column with none (without numpy's warning)."""
    known = ~np.isnan(x)
    total = np.where(known, x, 0.0).sum(0)
    count = known.sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _scale(test: OutcomeTable, costless: bool = False) -> tuple[Scale, int, int]:
    mq, mc = _column_means(test.scores), _column_means(test.costs)
    best = int(np.nanargmax(mq - 1e-9 * np.nan_to_num(mc)))
    strong = best
    weak_q = strong_q = None
    if len(test.models) == 2:
        priced = not costless and not np.isnan(mc).all() and np.nanmax(mc) > np.nanmin(mc)
        strong = int(np.nanargmax(mc)) if priced else best  # equal or unknown costs: the better model
        weak_q, strong_q = float(mq[1 - strong]), float(mq[strong])
    cheapest = int(np.nanargmin(mc)) if not np.isnan(mc).all() else best
    known = mc[~np.isnan(mc)] if not costless else mc[:0]
    c_lo, c_hi = (float(known.min()), float(known.max())) if len(known) else (math.nan, math.nan)
    scale = Scale(c_lo=c_lo, c_hi=c_hi, best_quality=float(mq[best]), best_cost=float(mc[best]),
                  cheapest_quality=float(mq[cheapest]), weak_quality=weak_q, strong_quality=strong_q)
    return scale, best, strong


def _metrics(points: OperatingPoints, scale: Scale, oracle_aiq: float | None) -> dict[str, float | None]:
    q, c, s = points.means()
    return curve_metrics(q, c, s, scale, oracle_aiq)


def _best_single_points(points: OperatingPoints, best: int) -> OperatingPoints:
    return OperatingPoints(points.quality[best:best + 1], points.cost[best:best + 1], points.strong[best:best + 1])


def headline(table: OutcomeTable, quality: np.ndarray, cost: np.ndarray, strong: np.ndarray) -> tuple[str, float]:
    """The figure a curve (per-knob means on ``table``'s complete prompts) is judged by: APGR on
    two-model tables, else AIQ, else (no costs known) the best mean quality."""
    scale, _, _ = _scale(table, costless=bool(np.isnan(table.costs).all()))
    m = curve_metrics(quality, cost, strong, scale, None)
    name = "apgr" if m.get("apgr") is not None else "aiq" if m["aiq"] is not None else "max_quality"
    return name, float(m[name])  # type: ignore[arg-type]


def _agreement(train: OutcomeTable | None, test: OutcomeTable, strong: int) -> tuple[OperatingPoints, list[str]] | None:
    """The plain agreement cascade baseline, fitted on ``train`` (or, without one, on ``test`` itself);
    only when responses were recorded."""
    fit_on = test if train is None else train
    if not fit_on.has_responses or not test.has_responses or len(test.models) < 4:
        return None
    return agreement_curve(fit_on, test, strong)


def evaluate(router_points: OperatingPoints, train: OutcomeTable | None, test: OutcomeTable, *,
             bootstrap: int = 200, seed: int = 0) -> dict:
    """The report of ``route eval``: router and baselines, each metric with a 95% bootstrap CI.

    When no model of ``test`` has a known cost, every call counts as one unit so the baselines
    still choose by quality, and the cost metrics are reported as None.
    """
    costless = bool(np.isnan(test.costs).all())
    if costless:
        test = replace(test, costs=np.ones_like(test.costs))
        train = None if train is None else replace(train, costs=np.ones_like(train.costs))
    scale, best, strong = _scale(test, costless)
    singles = single_points(test, strong)
    curves = {
        "router": router_points,
        "best_single": _best_single_points(singles, best),
        "zero_router": singles,
        "random": random_points(test, best, strong, seed),
        "per_task": task_points(train if train is not None else test, test, strong),
        "oracle": oracle_points(test, strong),
    }
    agreement = _agreement(train, test, strong)
    if agreement is not None:
        curves["agreement_cascade"] = agreement[0]
    keys = METRIC_KEYS + (TWO_MODEL_KEYS if scale.weak_quality is not None else ())
    oracle_aiq = _metrics(curves["oracle"], scale, None)["aiq"]
    point = {name: _metrics(p, scale, oracle_aiq) for name, p in curves.items()}
    rng = np.random.default_rng(seed)
    samples: dict[str, dict[str, list[float]]] = {name: {k: [] for k in keys} for name in curves}
    for _ in range(bootstrap):
        idx = rng.integers(0, test.n, test.n)
        boot_test = test.subset(idx)
        bscale, _, _ = _scale(boot_test, costless)
        boot = {name: p.take(idx) for name, p in curves.items()}
        b_oracle = _metrics(boot["oracle"], bscale, None)["aiq"]
        for name, p in boot.items():
            for k, v in _metrics(p, bscale, b_oracle).items():
                if k in keys and v is not None:
                    samples[name][k].append(v)
    out: dict = {"n_prompts": test.n, "models": list(test.models), "best_single_model": test.models[best],
                 "metric_definitions": "see tierflow.routing.metrics"}
    for name in curves:
        entry: dict[str, object] = {}
        for k in keys:
            vals = samples[name][k]
            entry[k] = point[name][k]
            entry[f"{k}_ci95"] = ([float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]
                                  if len(vals) >= max(10, bootstrap // 2) else None)
        q, c, s = curves[name].means()
        entry["curve"] = {"cost": c.tolist(), "quality": q.tolist(), "strong_share": s.tolist()}
        if name == "agreement_cascade":
            entry["models"] = agreement[1]  # type: ignore[index]
        if name == "router":
            out["router"] = entry
        else:
            out.setdefault("baselines", {})[name] = entry
    mq, mc = _column_means(test.scores), _column_means(test.costs)
    out["single_models"] = {m: {"quality": float(mq[j]), "cost": None if costless or np.isnan(mc[j]) else float(mc[j])}
                            for j, m in enumerate(test.models)}
    out["costs_known"] = not costless
    return out
