"""The cluster, linear and task router kinds: pre-routers that summarise the training table once.

Each predicts every model's quality and cost for a prompt from a small fitted summary of the
recorded outcomes and leaves the trade-off to :class:`~tierflow.routing.routers.base.PredictiveRouter`
(``argmax(quality - knob * cost / cost_unit)``). They differ in what a prompt is matched by:

- ``cluster``: k-means clusters with per-cluster quality and cost (Avengers-Pro style);
- ``linear``: one logistic regression per model predicting its success from the prompt's surface
  features (:func:`~tierflow.routing.features.prompts.prompt_features`) and the top
  principal components of its embedding;
- ``task``: per-task means (the "knows only the task name" baseline); a prompt routed without
  a task label, or with one never seen, gets the task whose centroid is nearest. Operating points
  are computed as live routing decides, without labels.

Importing this module registers them; :mod:`tierflow.routing.routers` does so, so every user of
the registry finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.features.boilerplate import strip_prefixes
from tierflow.routing.features.prompts import prompt_features
from tierflow.routing.routers.base import PredictiveRouter, fill_costs, register_router


@register_router
class ClusterRouter(PredictiveRouter):
    """k-means clusters of prompts; per cluster, each model's mean quality and cost.

    A prompt belongs to the cluster with the nearest centroid by Euclidean distance, the rule
    k-means fits by (:meth:`cluster_of`); the per-cluster means are taken over the training
    prompts as that same rule assigns them, so every training prompt is routed by the cluster
    it was counted in. (Cosine over the centroids' norms, the rule before, put 1-10 % of the
    training prompts of unit-vector tables in another cluster than the one they were fitted in.)
    """

    kind = "cluster"

    def cluster_of(self, emb: np.ndarray) -> np.ndarray:
        """Each embedding's cluster: the nearest centroid by Euclidean distance (computed in float64)."""
        centroids = self.centroids.astype(np.float64)
        # ||e - c||^2 = ||e||^2 - 2 e.c + ||c||^2; the first term is the same for every centroid
        distance = (centroids ** 2).sum(1)[None, :] - 2 * np.asarray(emb, dtype=np.float64) @ centroids.T
        return np.asarray(np.argmin(distance, axis=1))

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> ClusterRouter:
        from sklearn.cluster import KMeans

        self.fit_common(table)
        k = int(min(self.params.get("clusters", 10), max(1, table.n // 5)))
        self.centroids = KMeans(n_clusters=k, n_init=4, random_state=0).fit(emb).cluster_centers_.astype(np.float32)
        self.cq, self.cc = self._cluster_means(table, self.cluster_of(emb), k)
        return self

    def _cluster_means(self, table: OutcomeTable, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster, each model's mean quality and cost, shrunk towards the global means by 5
        pseudo-observations (small clusters say little)."""
        costs = fill_costs(table)
        prior_q, prior_c = np.nanmean(table.scores, 0), costs.mean(0)
        cq, cc = np.zeros((k, len(self.models))), np.zeros((k, len(self.models)))
        for c in range(k):
            rows = labels == c
            n = (~np.isnan(table.scores[rows])).sum(0)  # per model: a sparse table leaves cells unrecorded
            cq[c] = (np.nansum(table.scores[rows], 0) + 5 * prior_q) / (n + 5)
            cc[c] = (costs[rows].sum(0) + 5 * prior_c) / (n + 5)
        return cq, cc

    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        c = self.cluster_of(emb)
        return self.cq[c], self.cc[c]

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"cost_unit": self.cost_unit}, {"centroids": self.centroids, "quality": self.cq, "cost": self.cc}

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit = float(meta["cost_unit"])
        self.centroids, self.cq, self.cc = arrays["centroids"], arrays["quality"], arrays["cost"]


@register_router
class LinearRouter(PredictiveRouter):
    """One logistic regression per model: P(success | prompt features, top principal components of
    the embedding). Few, dense inputs generalise to unseen topics better than the raw embedding.
    Inputs are clipped to their training range, 1st to 99th percentile (``clip=false`` turns this off)."""

    kind = "linear"

    def _inputs(self, emb: np.ndarray, texts: Sequence[str] | None) -> np.ndarray:
        d = self.components.shape[0]
        feats = np.array([prompt_features(t) for t in texts]) if texts is not None else \
            np.repeat(self.x_mean[None, d:], len(emb), axis=0)  # no text: neutral (mean) features
        x = (np.hstack([(emb - self.emb_mean) @ self.components.T, feats]) - self.x_mean) / self.x_std
        return np.asarray(x if self.x_lo is None else np.clip(x, self.x_lo, self.x_hi))

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> LinearRouter:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression

        self.fit_common(table)
        d = int(min(self.params.get("components", 16), emb.shape[1], max(1, table.n - 1)))
        pca = PCA(d, random_state=0).fit(emb)
        self.emb_mean, self.components = pca.mean_, pca.components_
        texts = [strip_prefixes(p, self.prefixes) for p in table.prompts]
        raw = np.hstack([(emb - self.emb_mean) @ self.components.T, [prompt_features(t) for t in texts]])
        self.x_mean, self.x_std = raw.mean(0), raw.std(0) + 1e-6
        x = (raw - self.x_mean) / self.x_std
        # a new prompt's inputs are clipped to the 1st-99th percentile of the training prompts', so a
        # prompt unlike them (a task format never seen) cannot extrapolate to a confident prediction
        clip = bool(self.params.get("clip", True))
        self.x_lo: np.ndarray | None = np.quantile(x, 0.01, 0) if clip else None
        self.x_hi: np.ndarray | None = np.quantile(x, 0.99, 0) if clip else None
        m = len(self.models)
        self.coef, self.bias = np.zeros((m, x.shape[1])), np.zeros(m)
        self.mean_cost = fill_costs(table).mean(0)
        for j in range(m):
            ok = ~np.isnan(table.scores[:, j])
            y = table.scores[ok, j] >= 0.5
            if y.all() or not y.any():
                self.bias[j] = 8.0 if y.all() else -8.0
                continue
            lr = LogisticRegression(C=float(self.params.get("C", 1.0)), max_iter=1000).fit(x[ok], y)
            self.coef[j], self.bias[j] = lr.coef_[0], lr.intercept_[0]
        return self

    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        q = 1 / (1 + np.exp(-(self._inputs(emb, texts) @ self.coef.T + self.bias)))
        return q, np.repeat(self.mean_cost[None, :], len(emb), axis=0)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {"coef": self.coef, "bias": self.bias, "mean_cost": self.mean_cost, "emb_mean": self.emb_mean,
                  "components": self.components, "x_mean": self.x_mean, "x_std": self.x_std}
        if self.x_lo is not None:
            arrays.update(x_lo=self.x_lo, x_hi=self.x_hi)
        return {"cost_unit": self.cost_unit}, arrays

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit = float(meta["cost_unit"])
        for name in ("coef", "bias", "mean_cost", "emb_mean", "components", "x_mean", "x_std"):
            setattr(self, name, arrays[name])
        self.x_lo, self.x_hi = arrays.get("x_lo"), arrays.get("x_hi")  # absent in files from before clipping


@register_router
class TaskRouter(PredictiveRouter):
    """Per-task mean quality and cost; an unseen task borrows the nearest task centroid's."""

    kind = "task"

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> TaskRouter:
        self.fit_common(table)
        costs = fill_costs(table)
        tasks = np.array(table.tasks)
        self.task_names = sorted(set(table.tasks))
        self.tq = np.stack([np.nanmean(table.scores[tasks == t], 0) for t in self.task_names])
        self.tc = np.stack([costs[tasks == t].mean(0) for t in self.task_names])
        cent = np.stack([emb[tasks == t].mean(0) for t in self.task_names])
        self.centroids = cent / np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
        return self

    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        nearest = np.argmax(emb @ self.centroids.T, axis=1)
        index = {t: i for i, t in enumerate(self.task_names)}
        if tasks is None:
            rows = [int(j) for j in nearest]
        else:
            rows = [index.get(t, int(nearest[i])) for i, t in enumerate(tasks)]
        return self.tq[rows], self.tc[rows]

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"cost_unit": self.cost_unit, "tasks": self.task_names},
                {"quality": self.tq, "cost": self.tc, "centroids": self.centroids})

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit, self.task_names = float(meta["cost_unit"]), list(meta["tasks"])
        self.tq, self.tc, self.centroids = arrays["quality"], arrays["cost"], arrays["centroids"]
