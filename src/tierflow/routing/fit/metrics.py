"""How a router's cost-quality curve is scored: its operating points and the metrics of their hull.

A router evaluated on ``n`` prompts at ``K`` settings of its trade-off knob gives an
:class:`OperatingPoints`: per knob setting and per prompt, the quality obtained (the score of the
answer returned), the cost paid (every model consulted is charged) and whether the strongest
model was called. Metrics are computed on the per-knob means, against a :class:`Scale` (the
single models' cost range and the best single model):

- ``aiq`` (RouterBench): the area under the router's non-decreasing upper convex hull in the
  (cost, quality) plane, over the cost range of the single models [cheapest, most expensive],
  divided by that range. Every router may send everything to the cheapest model, so that point
  (``c_lo``, its quality) anchors the hull; beyond the router's dearest point the hull is flat.
  Convexity is fair: mixing two settings at random reaches any point between.
- ``match_best_cost_pct``: the lowest cost at which the hull reaches the best single model's
  quality, as % of that model's cost (``None`` if never).
- ``quality_at_20pct_cost``: the hull's quality at 20% of the best single model's cost.
- ``oracle_gap``: the per-query oracle's AIQ minus this AIQ.
- two-model tables (RouteLLM): ``apgr``, the mean share of the weak-to-strong quality gap
  recovered as the share of calls to the strong model goes from 0 to 1, and ``cpt50`` /
  ``cpt80``, the % of strong calls needed to recover 50% / 80% of the gap.

The report that applies them to a router and its baselines is :mod:`tierflow.routing.evaluate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

METRIC_KEYS = ("aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap", "max_quality")
COST_KEYS = ("aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap")
TWO_MODEL_KEYS = ("apgr", "cpt50", "cpt80")


@dataclass
class OperatingPoints:
    """Per knob setting (rows) and prompt (columns): quality got, cost paid, strong model called."""

    quality: np.ndarray  # (K, n)
    cost: np.ndarray  # (K, n)
    strong: np.ndarray  # (K, n) in {0, 1}

    def take(self, idx: np.ndarray) -> OperatingPoints:
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
        share = (scale.best_quality - hq[j - 1]) / (hq[j] - hq[j - 1]) if j else 0.0
        c = hc[j] if j == 0 else hc[j - 1] + (hc[j] - hc[j - 1]) * share
        match = float(100 * c / scale.best_cost) if scale.best_cost > 0 else None
    out.update({"aiq": value, "match_best_cost_pct": match,
                "quality_at_20pct_cost": float(_hull_at(hc, hq, 0.2 * scale.best_cost)),
                "oracle_gap": None if oracle_aiq is None else oracle_aiq - value})
    return out
