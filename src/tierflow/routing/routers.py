"""Routers for N models, and the plug-in interface they share.

A :class:`Router` is fitted on an :class:`~tierflow.routing.outcomes.OutcomeTable` and the
embeddings of its prompts. It has one trade-off knob, swept by evaluation and set by
calibration. Pre-routers (:class:`PredictiveRouter`) predict each model's quality and cost for
a prompt and pick ``argmax(quality - knob * cost / cost_unit)``; the knob is 0 for "best
quality" and grows towards "cheapest". Kinds here:

- ``knn`` (in :mod:`tierflow.routing.knn`): mean outcomes of the k nearest training prompts;
- ``cluster``: k-means clusters with per-cluster quality and cost (Avengers-Pro style);
- ``linear``: one logistic regression per model predicting its success from the embedding;
- ``task``: per-task means (the "knows only the task name" baseline); a prompt routed without
  a task label, or with one never seen, gets the task whose centroid is nearest. Operating points
  are computed as live routing decides, without labels.

A new kind subclasses :class:`Router`, sets ``kind``, implements ``fit``/``points``/``choose``
and the ``_state``/``_load_state`` pair, and calls :func:`register_router`.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.evaluate import OperatingPoints, choose_by_tradeoff, points_from_choices
from tierflow.routing.boilerplate import strip_prefixes
from tierflow.routing.outcomes import OutcomeTable

LAMBDA_GRID = np.concatenate([[0.0], np.logspace(-3, 3, 49), [np.inf]])


@dataclass
class Decision:
    """A routing decision: the model chosen, what it is expected to give and cost, the runner-up.

    ``chosen_model`` / ``runner_up_model`` are the router's model names; live routing fills
    ``chosen_role`` / ``runner_up`` with the registry roles they map to.
    """

    chosen_model: str
    predicted_quality: float
    predicted_cost: float
    runner_up_model: str | None = None
    runner_up_quality: float | None = None
    runner_up_cost: float | None = None
    chosen_role: str | None = None
    runner_up: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Router(ABC):
    """Base of every router: the models it chooses among, its knob, and its saved state."""

    kind: ClassVar[str] = ""
    knob_name: ClassVar[str] = "lambda"

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        self.models: list[str] = []
        self.knob: float = 0.0
        self.strong: str | None = None  # the strongest model (for two-model metrics)
        self.calibration: dict[str, Any] = {}
        self.embedder: str = "minilm"
        self.prefixes: list[str] = []  # per-task boilerplate stripped before embedding
        self.suffixes: list[str] = []  # per-task closing instructions, likewise

    @abstractmethod
    def fit(self, table: OutcomeTable, emb: np.ndarray) -> "Router": ...

    @abstractmethod
    def knob_grid(self) -> np.ndarray: ...

    @abstractmethod
    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        """Operating points on recorded outcomes, one row per knob value (default: the grid)."""

    @abstractmethod
    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        """The live decision for one prompt (its 1-D embedding and routing text) among ``allowed`` models."""

    @abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able parameters, named arrays) that fully describe the fitted router."""

    @abstractmethod
    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None: ...

    def _check_fitted(self, table: OutcomeTable) -> None:
        missing = [m for m in self.models if m not in table.models]
        if missing:
            raise RoutingError([Problem("outcomes", f"the router chooses among {missing} but the outcome table "
                                                    f"has no such model columns (it has {table.models})")])

    def _align(self, table: OutcomeTable) -> OutcomeTable:
        """``table`` with its model columns in the router's order."""
        self._check_fitted(table)
        cols = [table.models.index(m) for m in self.models]
        return OutcomeTable(table.ids, table.prompts, table.tasks, list(self.models), table.scores[:, cols],
                            table.costs[:, cols],
                            None if table.responses is None else [[r[c] for c in cols] for r in table.responses],
                            table.notes)


_REGISTRY: dict[str, type[Router]] = {}


def register_router(cls: type[Router]) -> type[Router]:
    """Make a router kind available to ``route fit --kind`` and to router files."""
    _REGISTRY[cls.kind] = cls
    return cls


def router_class(kind: str) -> type[Router]:
    if kind not in _REGISTRY:
        raise RoutingError([Problem("kind", f"unknown router kind {kind!r}; expected one of {sorted(_REGISTRY)}")])
    return _REGISTRY[kind]


def router_kinds() -> list[str]:
    return sorted(_REGISTRY)


def _fill_costs(table: OutcomeTable) -> np.ndarray:
    """Costs with unknown cells replaced by the model's mean (or 1.0 when a model has none)."""
    means = np.nanmean(np.where(np.isnan(table.costs), np.nan, table.costs), axis=0) \
        if not np.isnan(table.costs).all() else np.ones(len(table.models))
    means = np.where(np.isnan(means), 1.0, means)
    return np.where(np.isnan(table.costs), means[None, :], table.costs)


def _strongest(table: OutcomeTable) -> str:
    q = np.nanmean(table.scores, 0)
    return table.models[int(np.nanargmax(q))]


class PredictiveRouter(Router):
    """A pre-router: predicts per-model quality and cost from the prompt, then trades them off."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.cost_unit = 1.0

    def _fit_common(self, table: OutcomeTable) -> None:
        self.models = list(table.models)
        self.strong = _strongest(table)
        costs = _fill_costs(table)
        self.cost_unit = float(costs.mean()) or 1.0

    @abstractmethod
    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(predicted quality, predicted cost), each (n, m); ``texts`` are the routing texts."""

    def knob_grid(self) -> np.ndarray:
        return LAMBDA_GRID

    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        table = self._align(table)
        # scored as it routes live, from the prompt alone: live requests carry no task label (the
        # ``per_task`` baseline of route eval is the router that is given them)
        qhat, chat = self.predict(emb, None, [strip_prefixes(p, self.prefixes) for p in table.prompts])
        knobs = self.knob_grid() if knobs is None else knobs
        choices = np.stack([choose_by_tradeoff(qhat, chat, k, self.cost_unit) for k in knobs])
        strong = self.models.index(self.strong) if self.strong in self.models else -1
        table = OutcomeTable(table.ids, table.prompts, table.tasks, table.models, table.scores,
                             _fill_costs(table), None, table.notes)
        return points_from_choices(table, choices, strong)

    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        qhat, chat = self.predict(emb[None, :], None if task is None else [task], None if text is None else [text])
        lam = self.knob if knob is None else knob
        utility = -chat[0] if np.isinf(lam) else qhat[0] - lam * chat[0] / self.cost_unit
        if allowed is not None:
            mask = np.full(len(self.models), True)
            mask[list(allowed)] = False
            utility = np.where(mask, -np.inf, utility)
        order = [int(j) for j in np.argsort(-utility, kind="stable") if np.isfinite(utility[j])]
        best, second = order[0], (order[1] if len(order) > 1 else None)
        return Decision(chosen_model=self.models[best], predicted_quality=float(qhat[0, best]),
                        predicted_cost=float(chat[0, best]),
                        runner_up_model=None if second is None else self.models[second],
                        runner_up_quality=None if second is None else float(qhat[0, second]),
                        runner_up_cost=None if second is None else float(chat[0, second]))


@register_router
class ClusterRouter(PredictiveRouter):
    """k-means clusters of prompts; per cluster, each model's mean quality and cost."""

    kind = "cluster"

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> "ClusterRouter":
        from sklearn.cluster import KMeans

        self._fit_common(table)
        k = int(min(self.params.get("clusters", 10), max(1, table.n // 5)))
        km = KMeans(n_clusters=k, n_init=4, random_state=0).fit(emb)
        self.centroids = km.cluster_centers_.astype(np.float32)
        costs = _fill_costs(table)
        prior_q, prior_c = np.nanmean(table.scores, 0), costs.mean(0)
        self.cq = np.zeros((k, len(self.models)))
        self.cc = np.zeros((k, len(self.models)))
        for c in range(k):
            rows = km.labels_ == c
            n = (~np.isnan(table.scores[rows])).sum(0)  # per model: a sparse table leaves cells unrecorded
            # shrink small clusters towards the global means (5 pseudo-observations)
            self.cq[c] = (np.nansum(table.scores[rows], 0) + 5 * prior_q) / (n + 5)
            self.cc[c] = (costs[rows].sum(0) + 5 * prior_c) / (n + 5)
        return self

    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        c = np.argmax(emb @ self.centroids.T / np.linalg.norm(self.centroids, axis=1), axis=1)
        return self.cq[c], self.cc[c]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"cost_unit": self.cost_unit}, {"centroids": self.centroids, "quality": self.cq, "cost": self.cc}

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit = float(meta["cost_unit"])
        self.centroids, self.cq, self.cc = arrays["centroids"], arrays["quality"], arrays["cost"]


_MATH = re.compile(r"[=+*/^<>]")
_NEGATION = re.compile(r"\b(NOT|EXCEPT|LEAST|FALSE|INCORRECT)\b")


def prompt_features(text: str) -> list[float]:
    """Surface features of a prompt that carry across topics: size, numbers, maths, negation, lines."""
    n = max(1, len(text))
    return [math.log1p(len(text)), 10 * sum(ch.isdigit() for ch in text) / n, len(_MATH.findall(text)) / 10,
            float(bool(_NEGATION.search(text))), text.count("\n") / 10, float("```" in text or "def " in text)]


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
        return x if self.x_lo is None else np.clip(x, self.x_lo, self.x_hi)

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> "LinearRouter":
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression

        self._fit_common(table)
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
        self.x_lo, self.x_hi = (np.quantile(x, 0.01, 0), np.quantile(x, 0.99, 0)) if clip else (None, None)
        m = len(self.models)
        self.coef, self.bias = np.zeros((m, x.shape[1])), np.zeros(m)
        self.mean_cost = _fill_costs(table).mean(0)
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

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {"coef": self.coef, "bias": self.bias, "mean_cost": self.mean_cost, "emb_mean": self.emb_mean,
                  "components": self.components, "x_mean": self.x_mean, "x_std": self.x_std}
        if self.x_lo is not None:
            arrays.update(x_lo=self.x_lo, x_hi=self.x_hi)
        return {"cost_unit": self.cost_unit}, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit = float(meta["cost_unit"])
        for name in ("coef", "bias", "mean_cost", "emb_mean", "components", "x_mean", "x_std"):
            setattr(self, name, arrays[name])
        self.x_lo, self.x_hi = arrays.get("x_lo"), arrays.get("x_hi")  # absent in files from before clipping


@register_router
class TaskRouter(PredictiveRouter):
    """Per-task mean quality and cost; an unseen task borrows the nearest task centroid's."""

    kind = "task"

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> "TaskRouter":
        self._fit_common(table)
        costs = _fill_costs(table)
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
        rows = [index.get(t, nearest[i]) if tasks is not None else nearest[i]
                for i, t in enumerate(tasks if tasks is not None else [None] * len(emb))]
        return self.tq[rows], self.tc[rows]

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return ({"cost_unit": self.cost_unit, "tasks": self.task_names},
                {"quality": self.tq, "cost": self.tc, "centroids": self.centroids})

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit, self.task_names = float(meta["cost_unit"]), list(meta["tasks"])
        self.tq, self.tc, self.centroids = arrays["quality"], arrays["cost"], arrays["centroids"]
