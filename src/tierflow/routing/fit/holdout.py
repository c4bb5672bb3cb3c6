"""Which prompts ``route eval`` scores a router on, and which the baselines are fitted on.

A router file keeps the fingerprints of the prompts it was fitted on
(:func:`~tierflow.routing.data.split.fingerprints`), so evaluation leaves exactly those out
(:func:`unseen_part`). The baselines that learn (``per_task``, the agreement cascade) are fitted on
the prompts the router was fitted on: the rest of the evaluated files when they hold all of those,
else the router's own training files read back (:func:`training_outcomes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from tierflow.errors import Problem, RoutingError, TierflowError
from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.data.split import DEFAULT_TEST_SHARE, SplitBy, fingerprints, seen_mask, select
from tierflow.routing.routers.base import LearnedRouter

_MIN_TRAIN = 10  # fewer fitted-on prompts than this: the baselines are not fitted on them alone

_BASELINES = "the per_task and agreement baselines were fitted on"


def unseen_part(router: LearnedRouter, table: OutcomeTable, by: SplitBy = "prompt",
                test_share: float = DEFAULT_TEST_SHARE, training: Callable[[], OutcomeTable | None] | None = None,
                ) -> tuple[OutcomeTable, OutcomeTable | None, list[str]]:
    """What ``route eval`` scores by default: (the prompts of ``table`` the router was not fitted on,
    what the baselines are fitted on, notes saying which).

    On the outcome files the router was fitted on this is their held-out part, and the baselines
    are fitted on the rest, which holds every prompt the router was fitted on. On other outcomes it
    is every prompt not fitted on, and the baselines are fitted on the router's own training
    outcomes (``training()``), even when a few of the evaluated prompts overlap them; only when
    those cannot be read, on the overlapping prompts (10 or more) or else on the evaluated prompts
    themselves (None). A router file without fingerprints (older) falls back to the hash split.
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
    test, fitted = table.subset(np.nonzero(~seen)[0]), table.subset(np.nonzero(seen)[0])
    if len(fingerprints(fitted.prompts)) >= len(router.fitted_on):  # every prompt fitted on is here
        return test, fitted, [f"{fitted.n} of {table.n} prompts were used to fit the router and were left out: "
                              f"evaluated on the other {test.n}; {_BASELINES} the {fitted.n}"]
    return _baselines_elsewhere(router, test, fitted, table.n, training)


def _baselines_elsewhere(router: LearnedRouter, test: OutcomeTable, fitted: OutcomeTable, n: int,
                         training: Callable[[], OutcomeTable | None] | None
                         ) -> tuple[OutcomeTable, OutcomeTable | None, list[str]]:
    """:func:`unseen_part` on outcomes that do not hold every prompt the router was fitted on."""
    which = (f"none of these {n} prompts was used to fit the router" if not fitted.n else
             f"{fitted.n} of these {n} prompts were used to fit the router (left out)")
    own = training() if training is not None else None
    if own is not None:
        return test, own, [f"{which}: evaluated on {test.n}; {_BASELINES} the {own.n} prompts the router was "
                           f"fitted on ({', '.join(router.info['outcomes'])})"]
    if fitted.n >= _MIN_TRAIN:
        return test, fitted, [f"{which}: evaluated on {test.n}; {_BASELINES} those {fitted.n} only (the router's "
                              "own training outcomes could not be read)"]
    return test, None, [f"{which}: evaluated on {test.n}; {_BASELINES} the evaluated prompts themselves, in sample, "
                        "which flatters them (the router's own training outcomes could not be read)"]


def training_outcomes(router: LearnedRouter,
                      prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable | None:
    """The prompts the router was fitted on, read back from the outcome files ``route fit`` recorded
    (None when they are gone, changed, or lack the router's models)."""
    paths = router.info.get("outcomes")
    if router.fitted_on is None or not paths or not all(Path(p).exists() for p in paths):
        return None
    try:
        table = load_outcomes(paths, prices=prices)
        table = router.align(table.subset(np.nonzero(seen_mask(table, router.fitted_on))[0]))
    except TierflowError:
        return None
    return table if table.n >= _MIN_TRAIN else None


def fitted_on_overlap(router: LearnedRouter, table: OutcomeTable) -> list[str]:
    """A note when some of ``table``'s prompts were used to fit the router (an explicit ``--split``)."""
    if router.fitted_on is None:
        return []
    n_seen = int(seen_mask(table, router.fitted_on).sum())
    return [f"{n_seen} of the {table.n} evaluated prompts were used to fit the router: its figures on them are "
            "optimistic (the default, --split auto, leaves them out)"] if n_seen else []


__all__ = ["fitted_on_overlap", "training_outcomes", "unseen_part"]
