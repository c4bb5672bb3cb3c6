"""The k nearest recorded prompts: their averaged outcomes, how many to average, the knn router.

A kNN estimate of a model's success on a prompt averages its recorded scores on the most similar
training prompts (cosine over embeddings). How far similarity carries differs from table to
table, so the neighbourhood size is measured on the training prompts (:func:`choose_k`), not
fixed. The cascade's prior (:mod:`tierflow.routing.routers.cascade.router`) uses the same estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.routers.base import PredictiveRouter, fill_costs, register_router


def knn_average(query: np.ndarray, keys: np.ndarray, values: np.ndarray, k: int,
                 exclude_self: bool = False) -> np.ndarray:
    """Similarity-weighted mean of ``values`` over each query's ``k`` nearest keys (cosine).

    Similarities are computed in float64 and rounded to 1e-9, so a query's neighbours do not
    depend on how many queries share its batch (float32 matmuls round differently with the batch
    size, and ties between equal similarities went either way): live and batch decisions agree.
    """
    out = np.zeros((len(query), values.shape[1]))
    k = max(1, min(k, len(keys) - int(exclude_self)))
    keys64 = np.asarray(keys, dtype=np.float64)  # no copy when the router holds float64 keys
    for start in range(0, len(query), 1024):
        sims = np.round(query[start:start + 1024].astype(np.float64) @ keys64.T, 9)
        if exclude_self:
            sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.maximum(np.take_along_axis(sims, idx, 1), 0) + 1e-3
        vals = values[idx]  # (b, k, m)
        mask = ~np.isnan(vals)
        out[start:start + len(sims)] = (np.nan_to_num(vals) * (w[..., None] * mask)).sum(1) / \
            np.maximum((w[..., None] * mask).sum(1), 1e-9)
    return out


def cross_fitted_average(emb: np.ndarray, values: np.ndarray, k: int, folds: int = 5) -> np.ndarray:
    """:func:`knn_average` of every row over the rows of the other ``folds - 1`` folds.

    A training feature must not depend on the row's own outcome. Leaving only the row itself out
    does: its neighbours' averages include its outcome and its own does not, so with a wide
    neighbourhood the prior is lower exactly where the row was right, and an estimator trained
    on it learns that (with k near n it separates the labels perfectly). Rows of one fold share
    one key set, so a row's prior no longer moves with its own outcome (only, weakly, with its
    fold's).
    """
    n = len(emb)
    if n < 2 * folds:
        return knn_average(emb, emb, values, k, exclude_self=True)
    fold = np.random.default_rng(0).permutation(n) % folds
    out = np.zeros((n, values.shape[1]))
    for f in range(folds):
        rows, keys = np.nonzero(fold == f)[0], np.nonzero(fold != f)[0]
        out[rows] = knn_average(emb[rows], emb[keys], values[keys], k)
    return out


#: Neighbourhood sizes :func:`choose_k` tries.
K_GRID = (5, 10, 15, 25, 50, 100, 200)


def choose_k(emb: np.ndarray, scores: np.ndarray, grid: Sequence[int] = K_GRID,
             max_queries: int = 2000) -> tuple[int, dict[int, float]]:
    """The neighbourhood size whose leave-one-out kNN average predicts the recorded scores best.

    Returns (k, {k: Brier score relative to each model's overall mean}); a ratio of 1 or more
    means the neighbours say nothing the table's mean does not. How far similarity carries
    differs from table to table (on a table of one task, topical neighbours may know nothing
    about a model's success), so it is measured, not assumed. Every size is scored in one pass:
    the largest neighbourhood is sorted by similarity and the smaller ones are its prefixes. On
    tables of more than ``max_queries`` prompts, an evenly spaced sample of them is scored.
    """
    n = len(emb)
    ks = sorted({max(1, min(int(k), n - 1)) for k in grid})
    known = ~np.isnan(scores)
    values = np.nan_to_num(scores)
    queries = np.unique(np.linspace(0, n - 1, min(n, max_queries)).round().astype(int))
    err = dict.fromkeys(ks, 0.0)
    for start in range(0, len(queries), 1024):
        rows = queries[start:start + 1024]
        sims = emb[rows] @ emb.T
        sims[np.arange(len(rows)), rows] = -np.inf
        idx = np.argpartition(-sims, ks[-1] - 1, axis=1)[:, :ks[-1]]
        near = np.take_along_axis(sims, idx, 1)
        order = np.argsort(-near, axis=1, kind="stable")
        idx, near = np.take_along_axis(idx, order, 1), np.take_along_axis(near, order, 1)
        w = (np.maximum(near, 0) + 1e-3)[..., None] * known[idx]  # (rows, k, models)
        num, den = np.cumsum(w * values[idx], axis=1), np.cumsum(w, axis=1)
        for k in ks:
            pred = num[:, k - 1] / np.maximum(den[:, k - 1], 1e-9)
            err[k] += float((((pred - values[rows]) ** 2) * known[rows]).sum())
    base = float(np.nanmean((scores - np.nanmean(scores, 0)) ** 2)) or 1e-12
    ratio = {k: err[k] / max(int(known[queries].sum()), 1) / base for k in ks}
    return min(ratio, key=lambda k: (ratio[k], k)), ratio


def neighbourhood(param: Any, emb: np.ndarray, scores: np.ndarray) -> tuple[int, dict[str, Any] | None]:
    """(k, how it was chosen) for a kNN estimate: the ``k`` parameter as given, or for ``"auto"``
    the one :func:`choose_k` measures best, with each size's Brier ratio as the evidence."""
    if param == "auto":
        k, ratio = choose_k(emb, scores)
        return k, {"chosen": k, "brier_ratio": {str(n): round(v, 4) for n, v in ratio.items()}}
    if type(param) is not int or param <= 0:
        raise RoutingError([Problem("param k", f"expected 'auto' or a positive whole number, got {param!r}")])
    return param, None


@register_router
class KNNRouter(PredictiveRouter):
    """Mean outcomes of the ``k`` nearest recorded prompts, shrunk toward each model's overall mean
    by ``shrink`` pseudo-neighbours (a few noisy neighbours should not overrule the whole table)."""

    kind = "knn"

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> KNNRouter:
        self.fit_common(table)
        self.k, self.k_choice = neighbourhood(self.params.get("k", "auto"), emb, table.scores)
        self.shrink = float(self.params.get("shrink", 0.0))
        self.prior = np.nan_to_num(np.nanmean(table.scores, 0)).astype(np.float32)
        self.keys = emb.astype(np.float16).astype(np.float64)  # as saved; float64 as knn_average computes
        self.scores = table.scores.astype(np.float32)
        self.costs = fill_costs(table).astype(np.float32)
        self._outcomes = np.concatenate([self.scores, self.costs], axis=1)  # averaged together
        return self

    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        avg = knn_average(emb.astype(np.float32), self.keys, self._outcomes, self.k)
        m = len(self.models)
        k = min(self.k, len(self.keys))
        return (k * avg[:, :m] + self.shrink * self.prior) / (k + self.shrink), avg[:, m:]

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"k": self.k, "k_choice": self.k_choice, "shrink": self.shrink, "cost_unit": self.cost_unit},
                {"keys": self.keys.astype(np.float16), "scores": self.scores, "costs": self.costs,
                 "prior": self.prior})

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.k, self.cost_unit, self.k_choice = int(meta["k"]), float(meta["cost_unit"]), meta.get("k_choice")
        self.shrink = float(meta.get("shrink", 0.0))
        self.prior = arrays.get("prior", np.zeros(len(self.models), np.float32))
        self.keys = arrays["keys"].astype(np.float64)
        self.scores, self.costs = arrays["scores"], arrays["costs"]
        self._outcomes = np.concatenate([self.scores, self.costs], axis=1)


__all__ = ["K_GRID", "KNNRouter", "choose_k", "knn_average", "neighbourhood"]
