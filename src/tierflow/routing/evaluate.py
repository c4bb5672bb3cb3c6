"""Cost-quality metrics of routers, with the baselines they must beat and bootstrap CIs.

A router evaluated on ``n`` prompts at ``K`` settings of its trade-off knob gives an
:class:`OperatingPoints`: per knob setting and per prompt, the quality obtained (the score of the
answer returned), the cost paid (every model consulted is charged) and whether the strongest
model was called. Metrics are computed on the per-knob means:

- ``aiq`` (RouterBench): the area under the router's non-decreasing upper convex hull in the
  (cost, quality) plane, over the cost range of the single models [cheapest, most expensive],
  divided by that range. Every router may send everything to the cheapest model, so that point
  (``c_lo``, its quality) anchors the hull; beyond the router's dearest point the hull is flat.
  Convexity is fair: mixing two settings at random reaches any point between.
- ``match_best_cost_pct``: the lowest cost at which the hull reaches the best single model's
  quality, as % of that model's cost (``None`` if never).
- ``quality_at_20pct_cost``: the hull's quality at 20% of the best single model's cost.
- ``oracle_gap``: the per-query oracle's AIQ minus this AIQ.
- baselines: ``best_single``, ``zero_router`` (every single model; its hull is the linear
  interpolation of single models), ``random``, ``per_task``, ``oracle`` and, when responses were
  recorded, ``agreement_cascade`` (see :mod:`tierflow.routing.agreement`). Every curve, the
  router's included, goes through the same hull, anchor and normalisation.
- two-model tables (RouteLLM): ``apgr``, the mean share of the weak-to-strong quality gap
  recovered as the share of calls to the strong model goes from 0 to 1, and ``cpt50`` /
  ``cpt80``, the % of strong calls needed to recover 50% / 80% of the gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from tierflow.routing.outcomes import OutcomeTable

METRIC_KEYS = ("aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap", "max_quality")
COST_KEYS = ("aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap")
TWO_MODEL_KEYS = ("apgr", "cpt50", "cpt80")


@dataclass
class OperatingPoints:
    """Per knob setting (rows) and prompt (columns): quality got, cost paid, strong model called."""

    quality: np.ndarray  # (K, n)
    cost: np.ndarray  # (K, n)
    strong: np.ndarray  # (K, n) in {0, 1}

    def take(self, idx: np.ndarray) -> "OperatingPoints":
        return OperatingPoints(self.quality[:, idx], self.cost[:, idx], self.strong[:, idx])

    def means(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.quality.mean(1), self.cost.mean(1), self.strong.mean(1)


@dataclass
class Scale:
    """What a curve is measured against: the cost range and the best single model."""

    c_lo: float
    c_hi: float
    best_quality: float
    best_cost: float
    cheapest_quality: float | None = None
    weak_quality: float | None = None
    strong_quality: float | None = None


# --- curves ------------------------------------------------------------------------------------


def upper_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of points, as sorted vertex arrays."""
    order = np.lexsort((-quality, cost))
    pts: list[tuple[float, float]] = []
    best = -math.inf
    for c, q in zip(cost[order], quality[order]):
        if q <= best:  # dominated: costs more, gains nothing
            continue
        best = q
        while len(pts) >= 2:
            (c1, q1), (c2, q2) = pts[-2], pts[-1]
            if (q2 - q1) * (c - c1) <= (q - q1) * (c2 - c1):  # pts[-1] under the chord
                pts.pop()
            else:
                break
        if pts and pts[-1][0] == c:
            pts.pop()
        pts.append((float(c), float(q)))
    arr = np.array(pts)
    return arr[:, 0], arr[:, 1]


def anchored_hull(cost: np.ndarray, quality: np.ndarray, c_lo: float, q_lo: float | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The upper hull of the points plus the anchor (``c_lo``, ``q_lo``) when one is given."""
    if q_lo is not None:
        cost, quality = np.append(cost, c_lo), np.append(quality, q_lo)
    return upper_hull(cost, quality)


def _hull_at(hc: np.ndarray, hq: np.ndarray, c: float | np.ndarray) -> np.ndarray:
    return np.interp(c, hc, hq, left=hq[0], right=hq[-1])


def aiq(cost: np.ndarray, quality: np.ndarray, c_lo: float, c_hi: float, q_lo: float | None = None) -> float:
    """Average quality of the hull over [c_lo, c_hi], anchored at (c_lo, q_lo) when given."""
    hc, hq = anchored_hull(cost, quality, c_lo, q_lo)
    if c_hi <= c_lo:
        return float(_hull_at(hc, hq, c_hi))
    xs = np.unique(np.clip(np.concatenate([[c_lo, c_hi], hc]), c_lo, c_hi))
    return float(np.trapezoid(_hull_at(hc, hq, xs), xs) / (c_hi - c_lo))


def _gap_curve(share: np.ndarray, quality: np.ndarray, weak: float, strong: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """PGR against strong-call share: endpoints added, running max (a router may stop early)."""
    gap = strong - weak
    s = np.concatenate([[0.0], share, [1.0]])
    q = np.concatenate([[weak], quality, [strong]])
    order = np.lexsort((-q, s))
    s, pgr = s[order], (q[order] - weak) / gap if gap > 0 else np.zeros(len(q))
    return s, np.maximum.accumulate(pgr)


def two_model_metrics(share: np.ndarray, quality: np.ndarray, weak: float, strong: float) -> dict[str, float | None]:
    s, pgr = _gap_curve(share, quality, weak, strong)
    grid = np.linspace(0, 1, 201)
    curve = np.interp(grid, s, pgr)
    out: dict[str, float | None] = {"apgr": float(np.trapezoid(curve, grid))}
    for key, level in (("cpt50", 0.5), ("cpt80", 0.8)):
        hit = np.nonzero(curve >= level - 1e-12)[0]
        out[key] = float(grid[hit[0]] * 100) if len(hit) else None
    return out


def curve_metrics(quality: np.ndarray, cost: np.ndarray, strong: np.ndarray, scale: Scale,
                  oracle_aiq: float | None) -> dict[str, float | None]:
    """All metrics of one curve given as per-knob means (cost metrics None when costs are unknown)."""
    out: dict[str, float | None] = {"max_quality": float(np.max(quality))}
    if scale.weak_quality is not None and scale.strong_quality is not None:
        out.update(two_model_metrics(strong, quality, scale.weak_quality, scale.strong_quality))
    if math.isnan(scale.c_lo):
        return out | dict.fromkeys(COST_KEYS)
    value = aiq(cost, quality, scale.c_lo, scale.c_hi, scale.cheapest_quality)
    hc, hq = anchored_hull(cost, quality, scale.c_lo, scale.cheapest_quality)
    reach = np.nonzero(hq >= scale.best_quality - 1e-9)[0]
    match = None
    if len(reach):
        j = reach[0]
        c = hc[j] if j == 0 else hc[j - 1] + (hc[j] - hc[j - 1]) * (scale.best_quality - hq[j - 1]) / (hq[j] - hq[j - 1])
        match = float(100 * c / scale.best_cost) if scale.best_cost > 0 else None
    out.update({"aiq": value, "match_best_cost_pct": match,
                "quality_at_20pct_cost": float(_hull_at(hc, hq, 0.2 * scale.best_cost)),
                "oracle_gap": None if oracle_aiq is None else oracle_aiq - value})
    return out


def headline(table: OutcomeTable, quality: np.ndarray, cost: np.ndarray, strong: np.ndarray) -> tuple[str, float]:
    """The figure a curve (per-knob means on ``table``'s complete prompts) is judged by: APGR on
    two-model tables, else AIQ, else (no costs known) the best mean quality."""
    scale, _, _ = _scale(table, costless=bool(np.isnan(table.costs).all()))
    m = curve_metrics(quality, cost, strong, scale, None)
    name = "apgr" if m.get("apgr") is not None else "aiq" if m["aiq"] is not None else "max_quality"
    return name, float(m[name])  # type: ignore[arg-type]


# --- baselines ---------------------------------------------------------------------------------


def _lambda_grid(n: int = 60) -> np.ndarray:
    return np.concatenate([[0.0], np.logspace(-4, 4, n), [np.inf]])


def choose_by_tradeoff(qhat: np.ndarray, chat: np.ndarray, lam: float, cost_unit: float) -> np.ndarray:
    """Per row, the model maximising ``qhat - lam * chat / cost_unit`` (ties -> cheaper)."""
    if np.isinf(lam):
        return np.argmin(np.where(np.isnan(chat), np.inf, chat), axis=1)
    utility = qhat - lam * chat / cost_unit - 1e-12 * chat / cost_unit
    return np.argmax(np.where(np.isnan(utility), -np.inf, utility), axis=1)


def points_from_choices(table: OutcomeTable, choices: np.ndarray, strong_col: int) -> OperatingPoints:
    """Operating points of pre-routing choices (K, n) of model columns."""
    rows = np.arange(table.n)
    q = np.nan_to_num(table.scores[rows[None, :], choices], nan=0.0)
    c = np.nan_to_num(table.costs[rows[None, :], choices], nan=0.0)
    return OperatingPoints(q, c, (choices == strong_col).astype(float))


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


# --- the report --------------------------------------------------------------------------------


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
        strong = int(np.nanargmax(mc)) if not np.isnan(mc).all() else best
        weak_q, strong_q = float(mq[1 - strong]), float(mq[strong])
    cheapest = int(np.nanargmin(mc)) if not np.isnan(mc).all() else best
    known = mc[~np.isnan(mc)] if not costless else mc[:0]
    scale = Scale(c_lo=float(known.min()) if len(known) else math.nan, c_hi=float(known.max()) if len(known) else math.nan, best_quality=float(mq[best]),
                  best_cost=float(mc[best]), cheapest_quality=float(mq[cheapest]), weak_quality=weak_q, strong_quality=strong_q)
    return scale, best, strong


def _metrics(points: OperatingPoints, scale: Scale, oracle_aiq: float | None) -> dict[str, float | None]:
    q, c, s = points.means()
    return curve_metrics(q, c, s, scale, oracle_aiq)


def _best_single_points(points: OperatingPoints, best: int) -> OperatingPoints:
    return OperatingPoints(points.quality[best:best + 1], points.cost[best:best + 1], points.strong[best:best + 1])


def _agreement(train: OutcomeTable | None, test: OutcomeTable, strong: int) -> tuple[OperatingPoints, list[str]] | None:
    """The plain agreement cascade baseline, fitted on ``train`` (only when responses were recorded)."""
    from tierflow.routing.agreement import agreement_curve

    if train is None or not train.has_responses or not test.has_responses or len(test.models) < 4:
        return None
    return agreement_curve(train, test, strong)


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
                 "metric_definitions": "see tierflow.routing.evaluate"}
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
