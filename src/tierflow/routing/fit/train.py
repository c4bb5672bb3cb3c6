"""Fit a router on an outcome table and calibrate it: what ``tierflow route fit`` runs.

:func:`fit_router` fits one kind, or with ``kind="auto"`` every kind the table allows, keeping the
one whose out-of-fold curve scores best (:func:`_fit_auto`); each is calibrated to a target by
:func:`~tierflow.routing.fit.calibrate.calibrate`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.data.outcomes import OutcomeTable, check_priced, free_as_costless
from tierflow.routing.data.split import fingerprints
from tierflow.routing.features.answers import response_features
from tierflow.routing.features.boilerplate import shared_prefixes, shared_suffixes, template_labels
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.calibrate import calibrate, check_folds
from tierflow.routing.fit.evaluate import headline
from tierflow.routing.routers.base import LearnedRouter, router_class
from tierflow.routing.targets import CalibrationTarget

DEFAULT_TARGET = CalibrationTarget(quality=0.95)
AUTO_KINDS = ("knn", "cluster", "linear", "task", "blend", "cascade")


def _check_table(table: OutcomeTable, where: str) -> None:
    problems = []
    if table.n < 10:
        problems.append(Problem(where, f"only {table.n} prompts; at least 10 are needed to fit a router"))
    if len(table.models) < 2:
        problems.append(Problem(where, f"only {len(table.models)} model(s); routing needs at least 2"))
    complete = len(table.complete_rows())
    if not problems and complete < 10:
        problems.append(Problem(where, f"only {complete} of {table.n} prompts have a recorded outcome for every "
                                       "model; calibration and evaluation score routes on those and need at least "
                                       "10 (record every candidate model on some prompts)"))
    if problems:
        raise RoutingError(problems)
    check_priced(table, where)  # tables built in Python skip load_outcomes, which checks this too


def _note(table: OutcomeTable, text: str) -> None:
    if text not in table.notes:  # kind="auto" fits several kinds on one table
        table.notes.append(text)


def fit_router(table: OutcomeTable, kind: str = "auto", *, params: dict[str, Any] | None = None,
               embedder: str = "minilm", target: CalibrationTarget | None = None, strict_target: bool = False,
               folds: str = "prompt") -> LearnedRouter:
    """Fit a router of ``kind`` on ``table`` and calibrate its knob to ``target``.

    Without a target the default (95% of the best single model's quality) is used, falling back
    to the best quality reachable when that is out of reach; an explicit target that cannot be
    met raises :class:`RoutingError`. ``kind="auto"`` fits every kind of :data:`AUTO_KINDS` that
    the table allows and keeps the one whose out-of-fold curve scores best (:func:`_fit_auto`).
    ``folds="task"`` holds whole tasks out of the out-of-fold refits behind both, for a router
    meant for topics the outcomes do not cover (:func:`~tierflow.routing.fit.calibrate.fold_ids`).
    """
    _check_table(table, "outcomes")
    table = free_as_costless(table)
    check_folds(folds)  # before any fitting; too few tasks is found once template labels are inferred
    args: dict[str, Any] = {"params": params, "embedder": embedder, "target": target,
                            "strict_target": strict_target, "folds": folds}
    router = _fit_auto(table, **args) if kind == "auto" else _fit_kind(table, kind, **args)[0]
    router.fitted_on = fingerprints(table.prompts)  # so that evaluation can leave these prompts out
    return router


def _with_template_tasks(table: OutcomeTable) -> OutcomeTable:
    """``table``, or when every prompt has one task label and the prompts follow several templates, the
    table with the inferred template labels as tasks (noted on ``table``)."""
    if len(set(table.tasks)) == 1 and len(set(labels := template_labels(table.prompts))) > 1:
        _note(table, f"one task label for every prompt: {len(set(labels) - {'untemplated'})} prompt template(s) "
                     "inferred from shared openings or closings are used as tasks")
        return replace(table, tasks=labels)
    return table


def _complete_for(kind: str, table: OutcomeTable) -> OutcomeTable:
    """The rows a ``kind`` is fitted on: all (routers learn from every recorded cell; calibration keeps the
    complete ones), or for a cascade only the prompts every model answered; a note says how many were left."""
    kept = table.complete_rows()
    if len(kept) == table.n:
        return table
    what = "fitted" if kind == "cascade" else "calibrated"
    _note(table, f"{table.n - len(kept)} of {table.n} prompts lack some model's outcome; the router "
                 f"was {what} on the {len(kept)} others")  # on the caller's table, which the CLI reports and saves
    return table.subset(kept) if kind == "cascade" else table  # its estimators learn from every stage's answer


def _fit_kind(table: OutcomeTable, kind: str, *, params: dict[str, Any] | None, embedder: str,
              target: CalibrationTarget | None, strict_target: bool, folds: str) -> tuple[LearnedRouter, OutcomeTable]:
    """(fitted and calibrated router, the table as it was fitted on)."""
    router = router_class(kind)(**(params or {}))
    if kind == "cascade" and not table.has_responses:
        raise RoutingError([Problem("outcomes", "a cascade router needs recorded responses; these outcomes "
                                                "have none (use --kind knn, cluster, linear or task)")])
    table = _complete_for(kind, _with_template_tasks(table))
    router.embedder = embedder
    router.prefixes = shared_prefixes(table.prompts, table.tasks)
    router.suffixes = shared_suffixes(table.prompts, table.tasks)
    emb = embed_prompts(router, table.prompts)
    try:
        router.fit(table, emb)
        router.embedder = embedder
        calibrate(router, table, emb, target or DEFAULT_TARGET, fallback_to_best=target is None or not strict_target,
                  folds=folds)
    finally:  # the cache serves one fit and its calibration's refits; it should not keep the table alive
        response_features.cache_clear()
    return router, table


def _fit_auto(table: OutcomeTable, **fit_args: Any) -> LearnedRouter:
    """The kind whose out-of-fold curve on ``table`` scores best (APGR on two models, else AIQ,
    else the best quality); every candidate's score is kept in ``calibration["selection"]``.

    Every kind is scored by the out-of-fold curve its calibration stored: routers refitted
    without the prompts they score (:func:`~tierflow.routing.fit.calibrate.out_of_fold_points`;
    the cascade's ``refit_curve``).
    """
    fitted: dict[str, LearnedRouter] = {}
    scores: dict[str, float] = {}
    failed: dict[str, str] = {}
    figure = ""
    for kind in AUTO_KINDS:
        if kind == "cascade" and not table.has_responses:
            continue
        try:
            router, fitted_on = _fit_kind(table, kind, **fit_args)
        except RoutingError as exc:  # e.g. an explicit target this kind cannot reach
            failed[kind] = "; ".join(str(p) for p in exc.problems)
            continue
        curve = router.calibration.get("refit_curve", router.calibration["curve"])
        q, c, s = (np.array(curve[k]) for k in ("quality", "cost", "strong_share"))
        scored = router.align(fitted_on)
        figure, scores[kind] = headline(scored.subset(scored.complete_rows()), q, c, s)
        fitted[kind] = router
    if not fitted:
        raise RoutingError([Problem(f"kind {k}", msg) for k, msg in failed.items()])
    best = max(scores, key=lambda k: scores[k])  # first of equals: the simpler kind
    chosen = fitted[best]
    held = "whole tasks held out" if fit_args["folds"] == "task" else "prompts held out"
    chosen.calibration["selection"] = {"by": f"out-of-fold {figure} on the training outcomes ({held})", "chosen": best,
                                       "scores": scores, "failed": failed}
    return chosen


__all__ = ["AUTO_KINDS", "DEFAULT_TARGET", "fit_router"]
