"""The report of ``route eval``: a router's metrics beside its baselines', with bootstrap CIs.

The router's curve and every baseline's are scored on the same prompts, through the same hull,
anchor and normalisation (a :class:`~tierflow.routing.fit.metrics.Scale` taken from the evaluated
prompts), by the metrics defined in :mod:`tierflow.routing.fit.metrics`: ``aiq``,
``match_best_cost_pct``, ``quality_at_20pct_cost``, ``oracle_gap``, ``max_quality`` and, on
two-model tables, ``apgr``, ``cpt50`` and ``cpt80``. Each metric gets a 95% bootstrap CI over
resampled prompts.

Baselines: ``best_single``, ``zero_router`` (every single model; its hull is the linear
interpolation of single models), ``random``, ``per_task``, ``oracle``
(:mod:`tierflow.routing.fit.baselines`) and, when responses were recorded, ``agreement_cascade``
(:mod:`tierflow.routing.fit.agreement`). :func:`evaluate_router` adds what only a router has: its
kind, knob and calibrated point, and the latency of one live decision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.curves import OperatingPoints
from tierflow.routing.data.outcomes import OutcomeTable, check_priced, column_means, free_as_costless
from tierflow.routing.features.boilerplate import strip_prefixes
from tierflow.routing.features.embed import get_embedder
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.agreement import agreement_curve
from tierflow.routing.fit.baselines import oracle_points, random_points, single_points, task_points
from tierflow.routing.fit.metrics import METRIC_KEYS, TWO_MODEL_KEYS, Scale, curve_metrics
from tierflow.routing.routers.base import LearnedRouter, knob_json


def _scale(test: OutcomeTable, costless: bool = False) -> tuple[Scale, int, int]:
    mq, mc = column_means(test.scores), column_means(test.costs)
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


def _curves(router_points: OperatingPoints, train: OutcomeTable | None, test: OutcomeTable, best: int,
            strong: int, seed: int) -> tuple[dict[str, OperatingPoints], list[str] | None]:
    """The router's curve and every baseline's on ``test``, and the agreement baseline's models."""
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
    if agreement is None:
        return curves, None
    curves["agreement_cascade"] = agreement[0]
    return curves, agreement[1]


def _all_metrics(curves: dict[str, OperatingPoints], scale: Scale) -> dict[str, dict[str, float | None]]:
    """Every curve's metrics against ``scale``, the oracle gap measured to the oracle's AIQ."""
    oracle_aiq = _metrics(curves["oracle"], scale, None)["aiq"]
    return {name: _metrics(p, scale, oracle_aiq) for name, p in curves.items()}


def _bootstrap(curves: dict[str, OperatingPoints], test: OutcomeTable, keys: tuple[str, ...], costless: bool,
               rounds: int, seed: int) -> dict[str, dict[str, list[float]]]:
    """Per curve and metric, the values on ``rounds`` resamples of the prompts (scale re-measured each time)."""
    rng = np.random.default_rng(seed)
    samples: dict[str, dict[str, list[float]]] = {name: {k: [] for k in keys} for name in curves}
    for _ in range(rounds):
        idx = rng.integers(0, test.n, test.n)
        scale, _, _ = _scale(test.subset(idx), costless)
        boot = _all_metrics({name: p.take(idx) for name, p in curves.items()}, scale)
        for name, metrics in boot.items():
            for k, v in metrics.items():
                if k in keys and v is not None:
                    samples[name][k].append(v)
    return samples


def _entry(point: dict[str, float | None], samples: dict[str, list[float]], curve: OperatingPoints,
           keys: tuple[str, ...], rounds: int) -> dict[str, object]:
    """One curve's report entry: each metric beside its 95% interval (None on too few resamples), and the curve."""
    entry: dict[str, object] = {}
    for k in keys:
        vals = samples[k]
        entry[k] = point[k]
        entry[f"{k}_ci95"] = ([float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]
                              if len(vals) >= max(10, rounds // 2) else None)
    q, c, s = curve.means()
    entry["curve"] = {"cost": c.tolist(), "quality": q.tolist(), "strong_share": s.tolist()}
    return entry


def evaluate(router_points: OperatingPoints, train: OutcomeTable | None, test: OutcomeTable, *,
             bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """The report of ``route eval``: router and baselines, each metric with a 95% bootstrap CI.

    When no model of ``test`` has a known cost, every call counts as one unit so the baselines
    still choose by quality, and the cost metrics are reported as None.
    """
    costless = bool(np.isnan(test.costs).all())
    if costless:
        test = replace(test, costs=np.ones_like(test.costs))
        train = None if train is None else replace(train, costs=np.ones_like(train.costs))
    scale, best, strong = _scale(test, costless)
    curves, agreement_models = _curves(router_points, train, test, best, strong, seed)
    keys = METRIC_KEYS + (TWO_MODEL_KEYS if scale.weak_quality is not None else ())
    point = _all_metrics(curves, scale)
    samples = _bootstrap(curves, test, keys, costless, bootstrap, seed)
    out: dict[str, Any] = {"n_prompts": test.n, "models": list(test.models), "best_single_model": test.models[best],
                 "metric_definitions": "see tierflow.routing.fit.metrics"}
    entries = {name: _entry(point[name], samples[name], p, keys, bootstrap) for name, p in curves.items()}
    if agreement_models is not None:
        entries["agreement_cascade"]["models"] = agreement_models
    out["router"] = entries.pop("router")
    out["baselines"] = entries
    mq, mc = column_means(test.scores), column_means(test.costs)
    out["single_models"] = {m: {"quality": float(mq[j]), "cost": None if costless or np.isnan(mc[j]) else float(mc[j])}
                            for j, m in enumerate(test.models)}
    out["costs_known"] = not costless
    return out


def decision_latency_ms(router: LearnedRouter, prompts: Sequence[str], n: int = 50) -> dict[str, float]:
    """Median and p95 wall time of one live decision (uncached embedding + lookup), one prompt at a time."""
    embedder = get_embedder(router.embedder, cache=False)
    texts = list(prompts[:n])
    embedder.embed(texts[:1])  # warm-up
    times = []
    for t in texts:
        start = time.perf_counter()
        router.choose(embed_prompts(router, [t], embedder)[0], text=strip_prefixes(t, router.prefixes))
        times.append((time.perf_counter() - start) * 1000)
    return {"median": float(np.median(times)), "p95": float(np.percentile(times, 95)), "n": len(times)}


def _scorable(table: OutcomeTable) -> tuple[OutcomeTable, list[str]]:
    """The prompts with every model's outcome (a route to an unrecorded one cannot be scored), and a note."""
    kept = table.complete_rows()
    if len(kept) == table.n:
        return table, []
    if not len(kept):
        raise RoutingError([Problem("outcomes", f"none of the {table.n} prompts evaluated has a recorded "
                                    "outcome for every model of the router, so no route can be scored; "
                                    "evaluate on outcomes where every candidate model answered each prompt")])
    return table.subset(kept), [f"{table.n - len(kept)} of {table.n} prompts lack some model's outcome and were "
                                "left out: a route to an unrecorded outcome cannot be scored"]


def _router_section(router: LearnedRouter, table: OutcomeTable, emb: np.ndarray) -> dict[str, Any]:
    """What the report says of the router itself: kind, knob, how ``auto`` chose it, its calibrated point."""
    out: dict[str, Any] = {"kind": router.kind, "knob": {
        "name": router.knob_name, "calibrated": knob_json(router.knob),
        "mix": None if router.mix is None else {"knob": knob_json(router.mix[0]), "share": router.mix[1]}}}
    cal = router.calibration
    if cal.get("selection"):
        out["selection"] = cal["selection"]
    if cal:
        measured = router.calibrated_points(table, emb)
        out["calibrated_point"] = {k: cal.get(k) for k in ("target", "expected_quality", "expected_cost",
                                                            "expected_strong_share")} | {
            "test_quality": float(measured.quality.mean()), "test_cost": float(measured.cost.mean()),
            "test_strong_share": float(measured.strong.mean())}
    return out


def evaluate_router(router: LearnedRouter, test: OutcomeTable, train: OutcomeTable | None = None, *,
                    bootstrap: int = 200, latency: bool = True) -> dict[str, Any]:
    """The ``route eval`` report: router vs baselines with CIs, plus decision latency."""
    table = router.align(test)
    check_priced(table, "outcomes")
    table, notes = _scorable(free_as_costless(table))
    emb = embed_prompts(router, table.prompts)
    report = evaluate(router.points(table, emb), None if train is None else router.align(train), table,
                      bootstrap=bootstrap)
    report["notes"] = notes
    report["router"].update(_router_section(router, table, emb))
    if latency:
        report["router"]["decision_latency_ms"] = decision_latency_ms(router, table.prompts)
    report["per_task_baseline_fitted_on"] = "train part" if train is not None else "the evaluated outcomes"
    return report


__all__ = ["decision_latency_ms", "evaluate", "evaluate_router", "headline"]
