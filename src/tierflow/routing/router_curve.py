"""A saved router's cost-quality curve as a reader sees it: what the console's Routers view draws.

:func:`router_curve` reads the curve a router file stores (its calibration's out-of-fold operating
points: mean cost per request and mean quality per knob setting), the upper hull of those points
(:func:`tierflow.routing.curves.upper_hull`), where the router's knob sits on it now (a mix of two
settings lands between them), and each single model's mean quality and cost when the file has
them (files fitted before they were stored have none). No data and no embedder are needed.
:meth:`RouterCurve.ranges` merges consecutive knob settings that land on the same operating point
(the same mean cost and quality) into one :class:`CurveRange`, which is what a reader wants listed.
:func:`load_router_curve` does the same from a path, raising the loader's
:class:`~tierflow.errors.RoutingError` (naming the file) for a missing or damaged one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.curves import upper_hull
from tierflow.routing.io import in_router_file, load_router
from tierflow.routing.routers.base import LearnedRouter, knob_json
from tierflow.routing.targets import CalibrationTarget, stored_curve

if TYPE_CHECKING:
    from tierflow.config import ProjectConfig


@dataclass(frozen=True)
class CurvePoint:
    """One operating point: mean quality and mean cost (USD per request) at a knob setting."""

    knob: float | None  # None: the infinite knob ("always the cheapest")
    quality: float
    cost: float
    strong_share: float


@dataclass(frozen=True)
class SinglePoint:
    """A single model used for every request: its mean quality and mean cost per request."""

    model: str
    quality: float
    cost: float


@dataclass(frozen=True)
class CurveRange:
    """Consecutive knob settings ``points[first..last]`` that share one operating point (cost and quality)."""

    knob_low: float | None  # the first setting's knob (None: the infinite knob)
    knob_high: float | None  # the last setting's knob
    first: int  # index of the first setting in ``RouterCurve.points``
    last: int  # index of the last one (inclusive)
    quality: float
    cost: float
    strong_share: float
    on_hull: bool  # the operating point is a vertex of the upper hull
    current: bool  # the knob sits at one of these settings
    mixed_in: bool  # under a mix, the other setting is one of these


def _same_knob(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12))


@dataclass(frozen=True)
class RouterCurve:
    """A router's stored cost-quality curve, its hull, its current setting and the single models."""

    kind: str
    models: list[str]
    knob_name: str
    points: list[CurvePoint]
    hull: list[tuple[float, float]]  # (cost, quality) vertices, cheapest first
    current: CurvePoint | None  # where the knob (and mix) sits on the curve; None if not one of its settings
    mix: tuple[float | None, float] | None  # (other knob, share of prompts routed at it)
    best_single_quality: float
    singles: list[SinglePoint] = field(default_factory=list)
    target: dict[str, float] = field(default_factory=dict)  # the target the knob is set for (the config's, if any)
    fitted_target: dict[str, float] = field(default_factory=dict)  # the one the file was calibrated for
    roles: dict[str, str] = field(default_factory=dict)  # router model -> the candidate role it stands for

    def _is_current(self, p: CurvePoint) -> bool:
        return self.current is not None and _same_knob(p.knob, self.current.knob)

    def _is_mixed_in(self, p: CurvePoint) -> bool:
        return self.mix is not None and _same_knob(p.knob, self.mix[0])

    def ranges(self) -> list[CurveRange]:
        """The distinct operating points in knob order: each run of consecutive settings with the same mean
        cost and quality merged into one range, its hull and current (or mixed-in) settings marked."""
        hull = set(self.hull)
        out: list[CurveRange] = []
        start = 0
        for end, p in enumerate(self.points):
            last = end + 1 == len(self.points)
            if not last and (self.points[end + 1].cost, self.points[end + 1].quality) == (p.cost, p.quality):
                continue
            run = self.points[start:end + 1]
            out.append(CurveRange(
                knob_low=run[0].knob, knob_high=p.knob, first=start, last=end, quality=p.quality, cost=p.cost,
                strong_share=run[0].strong_share, on_hull=(p.cost, p.quality) in hull,
                current=any(self._is_current(q) for q in run), mixed_in=any(self._is_mixed_in(q) for q in run)))
            start = end + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain data for the console: each point with its ``on_hull``, ``current`` and ``mixed_in`` marks
        (as :meth:`ranges` marks them), the ranges, the hull as ``{cost, quality}`` and the mix."""
        out = asdict(self)
        hull = set(self.hull)
        out["points"] = [asdict(p) | {"on_hull": (p.cost, p.quality) in hull, "current": self._is_current(p),
                                      "mixed_in": self._is_mixed_in(p)} for p in self.points]
        out["ranges"] = [asdict(r) for r in self.ranges()]
        out["hull"] = [{"cost": c, "quality": q} for c, q in self.hull]
        out["mix"] = None if self.mix is None else {"knob": self.mix[0], "share": self.mix[1]}
        out["retargeted"] = self.retargeted
        return out

    @property
    def retargeted(self) -> bool:
        """Whether the knob runs at another target than the one the file was calibrated for."""
        return self.target != self.fitted_target


def _index(knobs: np.ndarray, value: float) -> int | None:
    """The index of the setting ``value`` in the curve's knobs (the infinite knob included)."""
    hits = np.nonzero(np.isinf(knobs) if np.isinf(value) else np.isclose(knobs, value, rtol=1e-9, atol=1e-12))[0]
    return int(hits[0]) if len(hits) else None


def _singles(calibration: dict[str, Any]) -> list[SinglePoint]:
    raw = calibration.get("singles")
    if not isinstance(raw, dict):
        return []
    try:
        rows = zip(raw["model"], raw["quality"], raw["cost"], strict=True)
        return [SinglePoint(str(m), float(q), float(c)) for m, q, c in rows if q is not None and c is not None]
    except (KeyError, TypeError, ValueError) as exc:
        raise RoutingError([Problem("router.calibration.singles", f"the stored single models are damaged "
                                    f"({type(exc).__name__}: {exc}); refit the router with `tierflow route fit`")]) \
            from None


def router_curve(router: LearnedRouter) -> RouterCurve:
    """The cost-quality curve ``router`` stores, with its hull and current setting marked.

    A router saved without a calibration curve, or with a damaged one, raises a RoutingError."""
    knobs, quality, cost, strong, best = stored_curve(router.calibration)
    points = [CurvePoint(knob_json(k), float(q), float(c), float(s))
              for k, q, c, s in zip(knobs, quality, cost, strong, strict=True)]
    hc, hq = upper_hull(cost, quality)
    i = _index(knobs, router.knob)
    current = None if i is None else points[i]
    if current is not None and router.mix is not None:
        j = _index(knobs, router.mix[0])
        p = router.mix[1]
        current = None if j is None else CurvePoint(
            current.knob, *(float((1 - p) * a[i] + p * a[j]) for a in (quality, cost, strong)))
    mix = None if router.mix is None else (knob_json(router.mix[0]), float(router.mix[1]))
    stored = router.calibration.get("target")
    target = dict(stored) if isinstance(stored, dict) else {}
    return RouterCurve(kind=router.kind, models=list(router.models), knob_name=router.knob_name, points=points,
                       hull=[(float(c), float(q)) for c, q in zip(hc, hq)], current=current, mix=mix,
                       best_single_quality=best, singles=_singles(router.calibration),
                       target=target, fitted_target=dict(target))


def _naming(path: str | Path, router: LearnedRouter) -> RouterCurve:
    try:
        return router_curve(router)
    except RoutingError as exc:
        raise in_router_file(path, exc) from None


def load_router_curve(path: str | Path) -> RouterCurve:
    """The curve of the router file at ``path``; a RoutingError names the file when it cannot be read."""
    return _naming(path, load_router(path))


def routed_role_curve(config: ProjectConfig, role: str) -> RouterCurve:
    """The curve of the config's routed role ``role`` as the role runs it: its router file (relative to
    the config's folder) loaded and re-targeted as :func:`~tierflow.routing.live.load_routed_role` does,
    with the candidate role each router model stands for; ``target`` is the entry's ``target:`` when it
    has one (``fitted_target`` stays the file's). Errors name the entry's field or the file."""
    from tierflow.routing.live import load_routed_role

    entry = config.routed_roles[role]
    source = Path(config.source)
    base_dir = source.parent if source.is_file() else None  # as the call layer loads it (calls/_routing.py)
    routed = load_routed_role(entry, config.registry, base_dir=base_dir, watch=False)
    path = Path(str(entry["router"]))
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    curve = _naming(path, routed.router)
    wanted = entry.get("target")
    target = CalibrationTarget.from_dict(dict(wanted)).as_dict() if wanted else curve.target  # checked on load
    return replace(curve, roles=dict(routed.role_of_model), target=target)


__all__ = ["CurvePoint", "CurveRange", "RouterCurve", "SinglePoint", "load_router_curve", "router_curve",
           "routed_role_curve"]
