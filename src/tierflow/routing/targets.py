"""What a router is calibrated to, and the knob setting that meets it on a stored curve.

A :class:`CalibrationTarget` is a quality floor (a share of the best single model's quality), a budget in
USD per 1,000 calls, or a share of calls to the strongest model. :func:`choose_knob` picks the
setting (or the mix of two settings) that meets it on a curve of per-knob means; calibration
(:mod:`tierflow.routing.fit.calibrate`) runs it on out-of-fold points, and a live role re-targets
a saved router from the curve its file stores (:func:`retarget`), with no data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tierflow.errors import Problem, RoutingError

if TYPE_CHECKING:
    from tierflow.routing.routers.base import LearnedRouter


@dataclass(frozen=True)
class CalibrationTarget:
    """Exactly one of the three fields is set."""

    quality: float | None = None
    max_cost_per_1k: float | None = None
    strong_share: float | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.quality, self.max_cost_per_1k, self.strong_share) if v is not None]
        if len(given) != 1:
            raise RoutingError([Problem("target", "give exactly one of --target-quality, --max-cost-per-1k, "
                                                  "--strong-share")])
        if self.quality is not None and not 0 < self.quality <= 1.5:
            raise RoutingError([Problem("target.quality", f"{self.quality} must be a share of the best single "
                                                          "model's quality, in (0, 1.5]")])
        if self.strong_share is not None and not 0 <= self.strong_share <= 1:
            raise RoutingError([Problem("target.strong_share", f"{self.strong_share} must be in [0, 1]")])
        if self.max_cost_per_1k is not None and self.max_cost_per_1k < 0:
            raise RoutingError([Problem("target.max_cost_per_1k", "must be >= 0 (USD per 1,000 calls)")])

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CalibrationTarget:
        keys = {"quality", "max_cost_per_1k", "strong_share"}
        unknown = set(raw) - keys
        if unknown:
            raise RoutingError([Problem("target", f"unknown key(s) {sorted(unknown)}; expected one of {sorted(keys)}")])
        return cls(**{k: float(v) for k, v in raw.items()})

    def as_dict(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _best_mix(x: np.ndarray, limit: float, key: np.ndarray) -> tuple[int, int, float] | None:
    """Among single settings with ``x <= limit`` and mixes of two settings whose ``x`` lands on
    ``limit`` exactly, the one with the largest ``key`` (ties: the single setting, the lower
    index) as ``(i, j, share at j)``; None if no setting is within the limit."""
    within = np.nonzero(x <= limit + 1e-12)[0]
    if not len(within):
        return None
    best = (float(key[within[0]]), int(within[0]), int(within[0]), 0.0)
    for i in within[1:]:
        if key[i] > best[0] + 1e-12:
            best = (float(key[i]), int(i), int(i), 0.0)
    over = np.nonzero(x > limit + 1e-12)[0]
    for i in within:
        for j in over:  # mix i (under the limit) with j (over it) to land on the limit
            p = (limit - x[i]) / (x[j] - x[i])
            value = (1 - p) * key[i] + p * key[j]
            if value > best[0] + 1e-12:
                best = (float(value), int(i), int(j), float(p))
    return best[1:]


def choose_knob(q: np.ndarray, c: np.ndarray, s: np.ndarray, target: CalibrationTarget,
                best_quality: float) -> tuple[int, int, float]:
    """The setting meeting ``target`` as ``(i, j, p)``: setting ``i``, with a share ``p`` of prompts
    at setting ``j`` (``p`` 0: ``i`` alone). Two settings mixed land exactly on a quality floor
    (the cheapest such mix), a budget or a strong-model share (the best quality within it)."""
    if target.quality is not None:
        floor = target.quality * best_quality
        if not np.any(q >= floor - 1e-9):
            raise RoutingError([Problem("target.quality", f"no setting reaches {target.quality:.3g} x the best "
                                        f"single model's quality ({floor:.4f}); the most this router reaches "
                                        f"is {q.max():.4f} ({q.max() / best_quality:.3f} x). Lower the target.")])
        pick = _best_mix(-q, -floor + 1e-9, -c)  # at least the floor (-q <= -floor), at the least cost
    elif target.max_cost_per_1k is not None:
        pick = _best_mix(c * 1000, target.max_cost_per_1k, q - 1e-9 * c / max(c.max(), 1e-300))
        if pick is None:
            raise RoutingError([Problem("target.max_cost_per_1k", f"no setting costs under "
                                        f"${target.max_cost_per_1k:g} per 1k calls; the cheapest costs "
                                        f"${c.min() * 1000:.4g}. Raise the budget.")])
    else:
        assert target.strong_share is not None, "exactly one of the three is set (__post_init__)"
        pick = _best_mix(s, target.strong_share + 1e-9, q - 1e-9 * c / max(c.max(), 1e-300))
        if pick is None:
            raise RoutingError([Problem("target.strong_share", f"every setting calls the strongest model more than "
                                        f"{target.strong_share:g} of the time (least: {s.min():.3f})")])
    i, j, p = pick  # type: ignore[misc]
    return (j, i, 1 - p) if p > 0.5 else (i, j, p)  # the knob is the setting most prompts take


def stored_curve(calibration: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(knobs, quality, cost, strong share, best single quality) of a router file's calibration, or a
    RoutingError saying what is missing or malformed."""
    curve = calibration.get("curve") if isinstance(calibration, dict) else None
    if not curve:
        raise RoutingError([Problem("router.calibration", "this router was saved without a calibration curve; "
                                    "refit it with a target")])
    try:
        knobs = np.array([np.inf if k is None else float(k) for k in curve["knob"]])
        columns = [np.asarray(curve[k], dtype=float) for k in ("quality", "cost", "strong_share")]
        best = float(calibration["best_single_quality"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RoutingError([Problem("router.calibration", f"the stored curve is damaged ({type(exc).__name__}: "
                                    f"{exc}); refit the router with `tierflow route fit`")]) from None
    if not knobs.size or any(c.shape != knobs.shape for c in columns):
        raise RoutingError([Problem("router.calibration.curve", "knob, quality, cost and strong_share must be lists "
                                    "of one length; refit the router with `tierflow route fit`")])
    names = ("quality", "cost", "strong_share")
    bad = [name for name, c in zip(names, columns, strict=True) if not np.isfinite(c).all()]
    bad += ["knob"] if np.isnan(knobs).any() else []
    if bad:
        raise RoutingError([Problem("router.calibration.curve", f"{', '.join(bad)} must be numbers (found null, NaN or "
                                    "infinity); refit the router with `tierflow route fit`")])
    if not np.isfinite(best):
        raise RoutingError([Problem("router.calibration.best_single_quality", f"expected a number, got {best}; refit "
                                    "the router with `tierflow route fit`")])
    return knobs, columns[0], columns[1], columns[2], best


def retarget(router: LearnedRouter, target: CalibrationTarget) -> tuple[float, tuple[float, float] | None]:
    """Re-choose the knob (and mix) from the stored out-of-fold curve (no data needed)."""
    knobs, quality, cost, strong, best = stored_curve(router.calibration)
    i, j, p = choose_knob(quality, cost, strong, target, best)
    return float(knobs[i]), ((float(knobs[j]), p) if p > 0 else None)


__all__ = ["CalibrationTarget", "choose_knob", "retarget", "stored_curve"]
