"""How a router's cost-quality curve is scored: its operating points and the metrics of their hull.

A router evaluated on ``n`` prompts at ``K`` settings of its trade-off knob gives an
:class:`OperatingPoints`: per knob setting and per prompt, the quality obtained (the score of the
answer returned), the cost paid (every model consulted is charged) and whether the strongest
model was called (:class:`~tierflow.routing.curves.OperatingPoints`). Metrics are computed on
the per-knob means, against a :class:`Scale` (the single models' cost range and the best single
model):

- ``aiq`` (RouterBench, as its ``evaluation/AIQ.py`` computes it,
  :func:`~tierflow.routing.curves.aiq`): the area under the curve's non-decreasing upper convex
  hull in the (cost, quality) plane, from its cheapest point to the most expensive single
  model's mean cost ``c_hi``, flat beyond its dearest point, divided by ``c_hi``. Every router
  may send everything to the cheapest model, so that point (``c_lo``, its quality) is added to
  every curve. Convexity is fair: mixing two settings at random reaches any point between.
- ``match_best_cost_pct``: the lowest cost at which the hull reaches the best single model's
  quality, as % of that model's cost (``None`` if never).
- ``quality_at_20pct_cost``: the hull's quality at 20% of the best single model's cost.
- ``oracle_gap``: the per-query oracle's AIQ minus this AIQ.
- two-model tables (RouteLLM): ``apgr``, the mean share of the weak-to-strong quality gap
  recovered as the share of calls to the strong model goes from 0 to 1, and ``cpt50`` /
  ``cpt80``, the % of strong calls needed to recover 50% / 80% of the gap.

The report that applies them to a router and its baselines is :mod:`tierflow.routing.fit.evaluate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tierflow.routing.curves import aiq, anchored_hull, hull_at

METRIC_KEYS = ("aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap", "max_quality")
COST_KEYS = ("aiq", "match_best_cost_pct", "quality_at_20pct_cost", "oracle_gap")
TWO_MODEL_KEYS = ("apgr", "cpt50", "cpt80")


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
    out: dict[str, float | None] = {"apgr": float(np.sum(np.diff(grid) * (curve[1:] + curve[:-1]) / 2.0))}
    for key, level in (("cpt50", 0.5), ("cpt80", 0.8)):
        hit = np.nonzero(curve >= level - 1e-12)[0]
        out[key] = float(grid[hit[0]] * 100) if len(hit) else None
    return out


def _match_best_cost_pct(hc: np.ndarray, hq: np.ndarray, scale: Scale) -> float | None:
    """The lowest cost at which the hull reaches the best single model's quality, as % of its cost."""
    reach = np.nonzero(hq >= scale.best_quality - 1e-9)[0]
    if not len(reach) or scale.best_cost <= 0:
        return None
    j = reach[0]
    if j == 0:
        return float(100 * hc[0] / scale.best_cost)
    share = (scale.best_quality - hq[j - 1]) / (hq[j] - hq[j - 1])
    return float(100 * (hc[j - 1] + (hc[j] - hc[j - 1]) * share) / scale.best_cost)


def cost_metrics(quality: np.ndarray, cost: np.ndarray, scale: Scale, oracle_aiq: float | None
                 ) -> dict[str, float | None]:
    """The metrics of :data:`COST_KEYS` for one curve of per-knob means (anchored, see the module doc)."""
    anchor = None if scale.cheapest_quality is None else (scale.c_lo, scale.cheapest_quality)
    value = aiq(cost, quality, scale.c_hi, anchor)
    hc, hq = anchored_hull(cost, quality, scale.c_lo, scale.cheapest_quality)
    return {"aiq": value, "match_best_cost_pct": _match_best_cost_pct(hc, hq, scale),
            "quality_at_20pct_cost": float(hull_at(hc, hq, 0.2 * scale.best_cost)),
            "oracle_gap": None if oracle_aiq is None else oracle_aiq - value}


def curve_metrics(quality: np.ndarray, cost: np.ndarray, strong: np.ndarray, scale: Scale,
                  oracle_aiq: float | None) -> dict[str, float | None]:
    """All metrics of one curve given as per-knob means (cost metrics None when costs are unknown)."""
    out: dict[str, float | None] = {"max_quality": float(np.max(quality))}
    if scale.weak_quality is not None and scale.strong_quality is not None:
        out.update(two_model_metrics(strong, quality, scale.weak_quality, scale.strong_quality))
    if math.isnan(scale.c_lo):
        return out | dict.fromkeys(COST_KEYS)
    return out | cost_metrics(quality, cost, scale, oracle_aiq)
