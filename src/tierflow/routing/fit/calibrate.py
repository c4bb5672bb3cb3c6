"""Calibration: set a router's knob so that it meets a target the user states.

Targets: a quality floor as a share of the best single model's quality (``quality=0.95``), a
budget in USD per 1,000 calls (``max_cost_per_1k``), or a share of calls to the strongest
model (``strong_share``). The knob is chosen on *out-of-fold* operating points of the
training outcomes (each prompt scored by a router that did not see it), so the expected cost
and quality stored with the router are honest; their 95% bootstrap intervals are stored too,
with the whole out-of-fold curve, so that live routing can re-target without the data. Each
knob value is priced at the final router's own cost and strong share on the training prompts,
and credited with the quality its refits reach at that cost (:func:`at_own_cost`). A target
that falls between two settings is met by mixing them (:func:`choose_knob`): the router keeps
``knob`` and ``mix`` (the other setting and the share of prompts routed at it), so the expected
figures land on the target instead of overshooting it by whatever gap the settings leave.

The folds hold out prompts (``by="prompt"``, the default) or whole tasks (``by="task"``), for a
router meant for topics its outcomes do not cover: then every curve is the refits' on tasks they
never saw, at their own cost, since a router's behaviour on its training topics (its cost
included) is what does not carry over to new ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.curves import OperatingPoints
from tierflow.routing.data.outcomes import OutcomeTable, column_means
from tierflow.routing.routers.base import LearnedRouter, knob_json, router_class
from tierflow.routing.targets import CalibrationTarget, choose_knob

_FOLDS = 5
FOLD_KINDS = ("prompt", "task")  # what the out-of-fold refits hold out


def check_folds(by: str) -> None:
    """Refuse a fold kind other than :data:`FOLD_KINDS`."""
    if by not in FOLD_KINDS:
        raise RoutingError([Problem("folds", f"expected 'prompt' or 'task', got {by!r}")])


def fold_ids(table: OutcomeTable, by: str = "prompt") -> np.ndarray:
    """Each row's fold: interleaved prompts, or whole tasks (largest first, each to the fold with
    the fewest rows so far; as many folds as tasks when there are fewer than five)."""
    check_folds(by)
    if by == "prompt":
        return np.arange(table.n) % _FOLDS
    names, sizes = np.unique(np.array(table.tasks), return_counts=True)
    if len(names) < 2:
        raise RoutingError([Problem("folds", f"holding out whole tasks needs at least 2 tasks; the outcomes have "
                                             f"{len(names)} ({names[0]!r}); hold out prompts instead")])
    load = np.zeros(min(_FOLDS, len(names)))
    fold_of: dict[str, int] = {}
    for i in np.lexsort((names, -sizes)):
        f = int(np.argmin(load))
        fold_of[str(names[i])], load[f] = f, load[f] + sizes[i]
    return np.array([fold_of[t] for t in table.tasks])


def out_of_fold_points(router: LearnedRouter, table: OutcomeTable, emb: np.ndarray,
                       by: str = "prompt") -> OperatingPoints:
    """Operating points where each prompt is scored by a router refitted without it (5 folds of
    prompts, or of whole tasks with ``by="task"``: see :func:`fold_ids`).

    Every kind is refitted, the cascade too: its own out-of-fold curve (``oof_points``) picks
    each group's chain and option on the outcomes it scores, which flatters it (RouterBench
    training part: AIQ 0.851 against 0.843 refitted).
    """
    knobs = router.knob_grid()
    q, c, s = (np.zeros((len(knobs), table.n)) for _ in range(3))
    fold = fold_ids(table, by)
    for f in np.unique(fold):
        test = np.nonzero(fold == f)[0]
        train = np.nonzero(fold != f)[0]
        part = router_class(router.kind)(**router.params)
        part.prefixes, part.suffixes = router.prefixes, router.suffixes
        part.fit(table.subset(train), emb[train])
        pts = part.points(table.subset(test), emb[test], knobs)
        q[:, test], c[:, test], s[:, test] = pts.quality, pts.cost, pts.strong
    scored = table.complete_rows()  # a route to an unrecorded outcome has no quality to count
    return OperatingPoints(q, c, s).take(scored)


def _frontier(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of the settings no cheaper-or-equal setting beats, by increasing cost."""
    order = np.lexsort((-quality, cost))
    keep, best = [], -np.inf
    for i in order:
        if quality[i] > best:
            keep.append(int(i))
            best = quality[i]
    return np.array(keep, dtype=int)


def at_own_cost(refit: OperatingPoints, own: OperatingPoints) -> OperatingPoints:
    """Per knob setting, the router's own cost and strong share, with the quality its refits
    reach at that cost: interpolated between the two refit settings of the cost-quality frontier
    that bracket it (per prompt, a mix of the two; below the cheapest, the cheapest's quality).

    A setting's cost carries over to new prompts, but which setting a knob value selects differs
    from refit to refit (other clusters, other thresholds). On the GSM8K dev split, the same
    cascade knob sent 19-66 % of prompts to the strong model across five refits and 24 % in the
    router fitted on all of them, so a knob chosen on the refits' curve spent 0.66x what it
    promised and reached 0.768 against 0.807; the cluster router spent 0.71-0.86x on three dev
    splits. A router's own quality on its training prompts flatters it; its cost does not.
    Crediting only the best refit setting at or under the cost (a step) made a cost a millionth
    of a dollar under a setting's lose that setting's quality, and biased every figure down.
    """
    q, c, _ = refit.means()
    front = _frontier(c, q)
    target = own.cost.mean(1)
    last = len(front) - 1
    hi_pos = np.clip(np.searchsorted(c[front], target, side="right"), 0, last)
    lo, hi = front[np.clip(hi_pos - 1, 0, last)], front[hi_pos]
    span = c[hi] - c[lo]
    w = np.clip((target - c[lo]) / np.where(span > 0, span, 1.0), 0.0, 1.0) * (span > 0)
    quality = (1 - w)[:, None] * refit.quality[lo] + w[:, None] * refit.quality[hi]
    return OperatingPoints(quality, own.cost, own.strong)


def _calibration_points(router: LearnedRouter, table: OutcomeTable, emb: np.ndarray, folds: str
                        ) -> tuple[OperatingPoints, OperatingPoints]:
    """(the points the knob is chosen on, the refits' out-of-fold points): on unseen tasks the refits'
    own, else the router's own cost with the refits' quality at it (:func:`at_own_cost`)."""
    refit = out_of_fold_points(router, table, emb, folds)
    if folds == "task":  # on unseen tasks the refits' own cost is the honest one
        return refit, refit
    own = getattr(router, "oof_points", None)  # the cascade simulates its own settings out of fold
    if own is None:
        own = router.points(table, emb, router.knob_grid())
    return at_own_cost(refit, own.take(table.complete_rows())), refit


def _setting(pts: OperatingPoints, target: CalibrationTarget, best_quality: float, fallback_to_best: bool
             ) -> tuple[int, int, float, str | None]:
    """The setting meeting ``target`` (:func:`~tierflow.routing.targets.choose_knob`), or with
    ``fallback_to_best`` the cheapest of the best-quality settings and a note saying so."""
    q, c, s = pts.means()
    try:
        return (*choose_knob(q, c, s, target, best_quality), None)
    except RoutingError:
        if not fallback_to_best:
            raise
        return int(np.lexsort((c, -q))[0]), 0, 0.0, "target out of reach: calibrated to the best quality reachable"


def _bootstrap_ci(points: OperatingPoints, rounds: int, seed: int) -> tuple[list[float], list[float]]:
    """95% bootstrap intervals of the mean quality and mean cost of one setting's per-prompt points."""
    rng = np.random.default_rng(seed)
    bq, bc = [], []
    n = points.quality.shape[0]
    for _ in range(rounds):
        idx = rng.integers(0, n, n)
        bq.append(points.quality[idx].mean())
        bc.append(points.cost[idx].mean())
    return ([float(np.percentile(bq, 2.5)), float(np.percentile(bq, 97.5))],
            [float(np.percentile(bc, 2.5)), float(np.percentile(bc, 97.5))])


_METHOD = {
    "task": "out-of-fold operating points on the training outcomes, whole tasks held out: the refits' quality and "
            "cost on tasks they never saw",
    "prompt": "out-of-fold operating points on the training outcomes; cost: the router's own per setting, quality: "
              "its refits' at that cost (interpolated)",
}


def calibrate(router: LearnedRouter, table: OutcomeTable, emb: np.ndarray, target: CalibrationTarget, *,
              fallback_to_best: bool = False, bootstrap: int = 200, seed: int = 0,
              folds: str = "prompt") -> dict[str, Any]:
    """Set ``router.knob`` for ``target``; store and return the calibration record.

    With ``fallback_to_best`` an unreachable target is not an error: the knob goes to the best
    quality reachable (the cheapest such setting) and the record says so in ``note``.
    """
    pts, refit = _calibration_points(router, table, emb, folds)
    knobs = router.knob_grid()
    singles = _singles(table)
    best_quality = max((q for q in singles["quality"] if q is not None), default=float("nan"))
    i, j, p, note = _setting(pts, target, best_quality, fallback_to_best)
    mixed = OperatingPoints(*((1 - p) * a[i] + p * a[j] for a in (pts.quality, pts.cost, pts.strong)))
    quality_ci, cost_ci = _bootstrap_ci(mixed, bootstrap, seed)
    router.knob = float(knobs[i])
    router.mix = (float(knobs[j]), p) if p > 0 else None
    router.calibration = {
        "target": target.as_dict(), "knob": knob_json(router.knob),
        "mix": {"knob": knob_json(knobs[j]), "share": p} if p > 0 else None,
        "expected_quality": float(mixed.quality.mean()), "expected_quality_ci95": quality_ci,
        "expected_cost": float(mixed.cost.mean()), "expected_cost_ci95": cost_ci,
        "expected_strong_share": float(mixed.strong.mean()), "best_single_quality": best_quality,
        "n_prompts": mixed.quality.shape[0], "folds": folds, "method": _METHOD[folds],
        "curve": _curve(knobs, pts), "refit_curve": _curve(knobs, refit),  # auto compares kinds by the latter
        "singles": singles,  # the reference points the console draws beside the curve
    }
    if note:
        router.calibration["note"] = note
    return router.calibration


def _singles(table: OutcomeTable) -> dict[str, list[Any]]:
    """Each model's mean quality and mean cost per prompt over the prompts the curve is measured on (those
    with every model's score: :meth:`OutcomeTable.complete_rows`); a cell still unknown is skipped, and a
    mean with nothing known is stored as None."""
    rows = table.complete_rows()
    quality, cost = column_means(table.scores[rows]), column_means(table.costs[rows])
    return {"model": list(table.models), "quality": [_finite(q) for q in quality], "cost": [_finite(c) for c in cost]}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _curve(knobs: np.ndarray, pts: OperatingPoints) -> dict[str, list[Any]]:
    q, c, s = pts.means()
    return {"knob": [knob_json(k) for k in knobs], "quality": q.tolist(),
            "cost": c.tolist(), "strong_share": s.tolist()}


__all__ = ["FOLD_KINDS", "at_own_cost", "calibrate", "check_folds", "fold_ids", "out_of_fold_points"]
