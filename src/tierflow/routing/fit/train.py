"""Fit, calibrate and evaluate routers on outcome tables: what ``tierflow route`` runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError, TierflowError
from tierflow.routing.answers import response_features
from tierflow.routing.boilerplate import (
    shared_prefixes,
    shared_suffixes,
    strip_boilerplate,
    strip_prefixes,
    template_labels,
)
from tierflow.routing.calibrate import Target, calibrate, check_folds
from tierflow.routing.embed import Embedder, get_embedder
from tierflow.routing.evaluate import evaluate, headline
from tierflow.routing.formats import load_outcomes
from tierflow.routing.outcomes import OutcomeTable, check_priced, free_as_costless
from tierflow.routing.routers import Router, knob_json, router_class
from tierflow.routing.split import DEFAULT_TEST_SHARE, SplitBy, fingerprints, seen_mask, select

DEFAULT_TARGET = Target(quality=0.95)
AUTO_KINDS = ("knn", "cluster", "linear", "task", "blend", "cascade")


def routing_texts(router: Router, prompts: Sequence[str]) -> list[str]:
    """The texts the router embeds: prompts without their task's shared boilerplate."""
    return [strip_boilerplate(p, router.prefixes, router.suffixes) for p in prompts]


def embed_prompts(router: Router, prompts: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
    return (embedder or get_embedder(router.embedder)).embed(routing_texts(router, prompts))


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
               embedder: str = "minilm", target: Target | None = None, strict_target: bool = False,
               folds: str = "prompt") -> Router:
    """Fit a router of ``kind`` on ``table`` and calibrate its knob to ``target``.

    Without a target the default (95% of the best single model's quality) is used, falling back
    to the best quality reachable when that is out of reach; an explicit target that cannot be
    met raises :class:`RoutingError`. ``kind="auto"`` fits every kind of :data:`AUTO_KINDS` that
    the table allows and keeps the one whose out-of-fold curve scores best (:func:`_fit_auto`).
    ``folds="task"`` holds whole tasks out of the out-of-fold refits behind both, for a router
    meant for topics the outcomes do not cover (:func:`~tierflow.routing.calibrate.fold_ids`).
    """
    _check_table(table, "outcomes")
    table = free_as_costless(table)
    check_folds(folds)  # before any fitting; too few tasks is found once template labels are inferred
    args = {"params": params, "embedder": embedder, "target": target, "strict_target": strict_target, "folds": folds}
    router = _fit_auto(table, **args) if kind == "auto" else _fit_kind(table, kind, **args)[0]
    router.fitted_on = fingerprints(table.prompts)  # so that evaluation can leave these prompts out
    return router


def _fit_kind(table: OutcomeTable, kind: str, *, params: dict[str, Any] | None, embedder: str,
              target: Target | None, strict_target: bool, folds: str) -> tuple[Router, OutcomeTable]:
    """(fitted and calibrated router, the table as it was fitted on)."""
    router = router_class(kind)(**(params or {}))
    if kind == "cascade" and not table.has_responses:
        raise RoutingError([Problem("outcomes", "a cascade router needs recorded responses; these outcomes "
                                                "have none (use --kind knn, cluster, linear or task)")])
    if len(set(table.tasks)) == 1 and len(set(labels := template_labels(table.prompts))) > 1:
        _note(table, f"one task label for every prompt: {len(set(labels) - {'untemplated'})} prompt template(s) "
                     "inferred from shared openings or closings are used as tasks")
        table = replace(table, tasks=labels)
    kept = table.complete_rows()
    if len(kept) < table.n:  # noted on the caller's table, which the CLI reports and saves
        what = "fitted" if kind == "cascade" else "calibrated"
        _note(table, f"{table.n - len(kept)} of {table.n} prompts lack some model's outcome; the router "
                     f"was {what} on the {len(kept)} others")
        if kind == "cascade":  # its estimators learn from what every stage answered
            table = table.subset(kept)
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


def _fit_auto(table: OutcomeTable, **fit_args: Any) -> Router:
    """The kind whose out-of-fold curve on ``table`` scores best (APGR on two models, else AIQ,
    else the best quality); every candidate's score is kept in ``calibration["selection"]``.

    Every kind is scored by the out-of-fold curve its calibration stored: routers refitted
    without the prompts they score (:func:`~tierflow.routing.calibrate.out_of_fold_points`;
    the cascade's ``refit_curve``).
    """
    fitted: dict[str, Router] = {}
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
        scored = router._align(fitted_on)
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


def decision_latency_ms(router: Router, prompts: Sequence[str], n: int = 50) -> dict[str, float]:
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


_MIN_TRAIN = 10  # fewer fitted-on prompts than this in the outcomes: baselines are fitted on the evaluated ones


def unseen_part(router: Router, table: OutcomeTable, by: SplitBy = "prompt",
                test_share: float = DEFAULT_TEST_SHARE, training: Callable[[], OutcomeTable | None] | None = None,
                ) -> tuple[OutcomeTable, OutcomeTable | None, list[str]]:
    """What ``route eval`` scores by default: (the prompts of ``table`` the router was not fitted on,
    what the baselines are fitted on, notes saying which).

    On the outcome files the router was fitted on this is their held-out part, and the baselines
    are fitted on the rest. On other outcomes it is all of them, and the baselines are fitted on
    the router's own training outcomes (``training()``, when it can read them), else on the
    evaluated prompts themselves (None). A router file without fingerprints (older) falls back to
    the hash split.
    """
    if router.fitted_on is None:
        return (select(table, "test", by, test_share), select(table, "train", by, test_share),
                ["the router file does not record which prompts it was fitted on (an older tierflow wrote it): "
                 "evaluated on the held-out part of the hash split; refit it to evaluate on exactly the prompts "
                 "it has not seen"])
    seen = seen_mask(table, router.fitted_on)
    if seen.all():
        raise RoutingError([Problem("outcomes", f"the router was fitted on all {table.n} prompts of these "
                                    "outcomes, so none is left to evaluate it on: evaluate it on other outcomes, or "
                                    "fit it on the training part (`route fit` without --split all) and evaluate "
                                    "on the same files")])
    n_seen = int(seen.sum())
    test = table.subset(np.nonzero(~seen)[0])
    if n_seen >= _MIN_TRAIN:
        return test, table.subset(np.nonzero(seen)[0]), [
            f"{n_seen} of {table.n} prompts were used to fit the router and were left out: evaluated on the "
            f"other {test.n}; the per_task and agreement baselines were fitted on the {n_seen}"]
    which = (f"none of these {table.n} prompts was used to fit the router" if not n_seen else
             f"only {n_seen} of these {table.n} prompts were used to fit the router (left out)")
    own = training() if training is not None else None
    if own is not None:
        return test, own, [f"{which}: evaluated on {test.n}; the per_task and agreement baselines were fitted on "
                           f"the {own.n} prompts the router was fitted on ({', '.join(router.info['outcomes'])})"]
    return test, None, [f"{which}: evaluated on {test.n}; the per_task and agreement baselines were fitted on the "
                        "evaluated prompts themselves, in sample, which flatters them (the router's own training "
                        "outcomes could not be read)"]


def training_outcomes(router: Router, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable | None:
    """The prompts the router was fitted on, read back from the outcome files ``route fit`` recorded
    (None when they are gone, changed, or lack the router's models)."""
    paths = router.info.get("outcomes")
    if router.fitted_on is None or not paths or not all(Path(p).exists() for p in paths):
        return None
    try:
        table = load_outcomes(paths, prices=prices)
        table = router._align(table.subset(np.nonzero(seen_mask(table, router.fitted_on))[0]))
    except TierflowError:
        return None
    return table if table.n >= _MIN_TRAIN else None


def fitted_on_overlap(router: Router, table: OutcomeTable) -> list[str]:
    """A note when some of ``table``'s prompts were used to fit the router (an explicit ``--split``)."""
    if router.fitted_on is None:
        return []
    n_seen = int(seen_mask(table, router.fitted_on).sum())
    return [f"{n_seen} of the {table.n} evaluated prompts were used to fit the router: its figures on them are "
            "optimistic (the default, --split auto, leaves them out)"] if n_seen else []


def evaluate_router(router: Router, test: OutcomeTable, train: OutcomeTable | None = None, *,
                    bootstrap: int = 200, latency: bool = True) -> dict[str, Any]:
    """The ``route eval`` report: router vs baselines with CIs, plus decision latency."""
    table = router._align(test)
    check_priced(table, "outcomes")
    table = free_as_costless(table)
    notes = []
    kept = table.complete_rows()
    if len(kept) < table.n:
        if not len(kept):
            raise RoutingError([Problem("outcomes", f"none of the {table.n} prompts evaluated has a recorded "
                                        "outcome for every model of the router, so no route can be scored; "
                                        "evaluate on outcomes where every candidate model answered each prompt")])
        notes.append(f"{table.n - len(kept)} of {table.n} prompts lack some model's outcome and were left out: "
                     "a route to an unrecorded outcome cannot be scored")
        table = table.subset(kept)
    emb = embed_prompts(router, table.prompts)
    if train is not None:
        train = router._align(train)
    report = evaluate(router.points(table, emb), train, table, bootstrap=bootstrap)
    report["notes"] = notes
    report["router"]["kind"] = router.kind
    report["router"]["knob"] = {"name": router.knob_name, "calibrated": knob_json(router.knob),
                                "mix": None if router.mix is None else
                                {"knob": knob_json(router.mix[0]), "share": router.mix[1]}}
    if router.calibration.get("selection"):
        report["router"]["selection"] = router.calibration["selection"]
    if router.calibration:
        cal = router.calibration
        report["router"]["calibrated_point"] = {k: cal.get(k) for k in ("target", "expected_quality",
                                                                        "expected_cost", "expected_strong_share")}
        knob_pts = router.calibrated_points(table, emb)
        report["router"]["calibrated_point"]["test_quality"] = float(knob_pts.quality.mean())
        report["router"]["calibrated_point"]["test_cost"] = float(knob_pts.cost.mean())
        report["router"]["calibrated_point"]["test_strong_share"] = float(knob_pts.strong.mean())
    if latency:
        report["router"]["decision_latency_ms"] = decision_latency_ms(router, table.prompts)
    report["per_task_baseline_fitted_on"] = "train part" if train is not None else "the evaluated outcomes"
    return report
