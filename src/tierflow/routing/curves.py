"""A router's cost-quality curve: its operating points, their upper hull, and the area under it (AIQ).

A router scored on ``n`` prompts at ``K`` settings of its knob gives :class:`OperatingPoints`: per
setting and prompt, the quality obtained, the cost paid and whether the strongest model was called.
Pre-routers turn per-prompt model choices into points (:func:`points_from_choices`) by the one
trade-off rule they share (:func:`choose_by_tradeoff`). Evaluation (:mod:`tierflow.routing.fit.metrics`)
and the cascade's own fitting both measure a curve by the area under its hull, so that part lives
here, beside the points, where routers can use it without importing the evaluation code:

- :func:`aiq`: RouterBench's AIQ, as its ``evaluation/AIQ.py`` computes it: the area under the
  non-decreasing upper convex hull from the curve's cheapest point, extended flat to the largest
  single-model mean cost ``c_max``, divided by ``c_max`` (the area left of the cheapest point is
  not counted). This is the figure ``route eval`` reports (docs/routing.md, "Reference").
- :func:`range_aiq`: the hull's mean over the single models' cost range ``[c_lo, c_hi]``, the
  figure ``route eval`` reported before; on a curve that starts at ``c_lo`` it is
  ``aiq * c_hi / (c_hi - c_lo)``. The cascade's fit criteria (stage choice, answer mode) keep it,
  since their margins were set in its units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tierflow.routing.data.outcomes import OutcomeTable


@dataclass
class OperatingPoints:
    """Per knob setting (rows) and prompt (columns): quality got, cost paid, strong model called."""

    quality: np.ndarray  # (K, n)
    cost: np.ndarray  # (K, n)
    strong: np.ndarray  # (K, n) in {0, 1}

    def take(self, idx: np.ndarray) -> OperatingPoints:
        """The points of the prompts ``idx`` (columns), in that order."""
        return OperatingPoints(self.quality[:, idx], self.cost[:, idx], self.strong[:, idx])

    def means(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per setting: mean quality, mean cost, share of calls to the strongest model."""
        return self.quality.mean(1), self.cost.mean(1), self.strong.mean(1)


def choose_by_tradeoff(qhat: np.ndarray, chat: np.ndarray, lam: float, cost_unit: float) -> np.ndarray:
    """Per row, the model maximising ``qhat - lam * chat / cost_unit`` (ties -> cheaper)."""
    if np.isinf(lam):
        return np.asarray(np.argmin(np.where(np.isnan(chat), np.inf, chat), axis=1))
    utility = qhat - lam * chat / cost_unit - 1e-12 * chat / cost_unit
    return np.asarray(np.argmax(np.where(np.isnan(utility), -np.inf, utility), axis=1))


def points_from_choices(table: OutcomeTable, choices: np.ndarray, strong_col: int) -> OperatingPoints:
    """Operating points of pre-routing choices (K, n) of model columns."""
    rows = np.arange(table.n)
    q = np.nan_to_num(table.scores[rows[None, :], choices], nan=0.0)
    c = np.nan_to_num(table.costs[rows[None, :], choices], nan=0.0)
    return OperatingPoints(q, c, (choices == strong_col).astype(float))


def upper_hull(cost: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing upper convex hull of points, as sorted vertex arrays."""
    order = np.lexsort((-quality, cost))
    pts: list[tuple[float, float]] = []
    best = -math.inf
    for c, q in zip(cost[order], quality[order]):
        if q <= best:  # dominated: costs more, gains nothing
            continue
        best = q
        while len(pts) >= 2 and _under_chord(pts[-2], pts[-1], (c, q)):
            pts.pop()
        if pts and pts[-1][0] == c:
            pts.pop()
        pts.append((float(c), float(q)))
    arr = np.array(pts)
    return arr[:, 0], arr[:, 1]


def _under_chord(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    """Whether ``b`` lies on or under the chord from ``a`` to ``c`` (so it is no hull vertex)."""
    return (b[1] - a[1]) * (c[0] - a[0]) <= (c[1] - a[1]) * (b[0] - a[0])


def anchored_hull(cost: np.ndarray, quality: np.ndarray, c_lo: float, q_lo: float | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The upper hull of the points plus the anchor (``c_lo``, ``q_lo``) when one is given."""
    if q_lo is not None:
        cost, quality = np.append(cost, c_lo), np.append(quality, q_lo)
    return upper_hull(cost, quality)


def hull_at(hc: np.ndarray, hq: np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """The hull's quality at cost ``c``: linear between vertices, flat beyond either end."""
    return np.asarray(np.interp(c, hc, hq, left=hq[0], right=hq[-1]))


def _area(hc: np.ndarray, hq: np.ndarray, lo: float, hi: float) -> float:
    """The area under the hull (flat beyond its ends) between costs ``lo`` and ``hi`` (trapezoids)."""
    xs = np.unique(np.clip(np.concatenate([[lo, hi], hc]), lo, hi))
    ys = hull_at(hc, hq, xs)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2.0))


def aiq(cost: np.ndarray, quality: np.ndarray, c_max: float, anchor: tuple[float, float] | None = None) -> float:
    """RouterBench's AIQ of the curve (``cost``, ``quality``) given as per-knob means.

    The area under the non-decreasing upper convex hull of the points (and of ``anchor``, a
    ``(cost, quality)`` point every curve may reach, when given), from the hull's cheapest
    point to ``c_max`` (the largest mean cost of the single models), flat beyond its dearest
    point, divided by ``c_max``. Nothing left of the cheapest point counts, so a curve that
    starts dearer covers less. A curve that starts at or beyond ``c_max`` has AIQ 0.
    """
    hc, hq = upper_hull(cost, quality) if anchor is None else anchored_hull(cost, quality, *anchor)
    if not c_max > hc[0]:
        return 0.0
    return _area(hc, hq, float(hc[0]), c_max) / c_max


def range_aiq(cost: np.ndarray, quality: np.ndarray, c_lo: float, c_hi: float, q_lo: float | None = None) -> float:
    """The hull's mean quality over ``[c_lo, c_hi]``, anchored at (``c_lo``, ``q_lo``) when given:
    AIQ normalised over the single models' cost range (what ``route eval`` reported before)."""
    hc, hq = anchored_hull(cost, quality, c_lo, q_lo)
    if c_hi <= c_lo:
        return float(hull_at(hc, hq, c_hi))
    return _area(hc, hq, c_lo, c_hi) / (c_hi - c_lo)


__all__ = ["OperatingPoints", "aiq", "anchored_hull", "choose_by_tradeoff", "hull_at", "points_from_choices",
           "range_aiq", "upper_hull"]
