"""The plug-in interface every router kind implements, and the pre-router most kinds build on.

A :class:`LearnedRouter` is fitted on an :class:`~tierflow.routing.data.outcomes.OutcomeTable` and the
embeddings of its prompts. It has one trade-off knob, swept by evaluation and set by
calibration. Pre-routers (:class:`PredictiveRouter`) predict each model's quality and cost for
a prompt and pick ``argmax(quality - knob * cost / cost_unit)``; the knob is 0 for "best
quality" and grows towards "cheapest". The built-in kinds are listed in
:mod:`tierflow.routing.routers`.

Calibration may split traffic between two settings of the knob (``mix``: the other setting and
the share of prompts routed at it), so that a target between two settings is met exactly;
which prompts take the other setting is fixed by a hash of the prompt (:meth:`LearnedRouter.knob_for`).

**Writing a kind.** Subclass :class:`LearnedRouter` (or :class:`PredictiveRouter`, which needs only
``fit``, ``predict`` and the state pair), set ``kind``, and decorate the class with
:func:`register_router`. The methods a kind implements:

- ``fit(table, emb)``: learn from the outcomes and the prompts' embeddings; return ``self``.
- ``knob_grid()``: the knob values evaluation sweeps (``LAMBDA_GRID`` for pre-routers).
- ``points(table, emb, knobs=None)``: :class:`~tierflow.routing.curves.OperatingPoints` on
  recorded outcomes, one row per knob value; call :meth:`LearnedRouter.align` first so the table's
  model columns are in the router's order.
- ``choose(emb, task=None, knob=None, allowed=None, text=None)``: the live :class:`Decision`
  for one prompt; ``next_step`` has a default (route once) that cascades override.
- ``state()`` / ``load_state(meta, arrays)``: the fitted state as JSON-able parameters plus
  named NumPy arrays, and back. Router files (:mod:`tierflow.routing.io`) store them with the
  fields every router shares (models, knob, calibration, embedder, boilerplate), which the
  loader sets before it calls ``load_state``. A missing key in ``meta`` or ``arrays`` becomes a
  :class:`~tierflow.errors.RoutingError` naming the file.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.curves import OperatingPoints, choose_by_tradeoff, points_from_choices
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.data.split import hash64
from tierflow.routing.features.boilerplate import strip_prefixes

LAMBDA_GRID = np.concatenate([[0.0], np.logspace(-3, 3, 49), [np.inf]])
_MIX_SALT = "tierflow-knob-mix:"


def knob_json(knob: float) -> float | None:
    """A knob value as JSON has it: None stands for the infinite knob ("always the cheapest")."""
    return float(knob) if np.isfinite(knob) else None


def mix_draw(prompt: str) -> float:
    """A prompt's fixed draw in [0, 1): it takes a mix's other setting when the draw is under its share."""
    return hash64(_MIX_SALT + prompt) / 2**64


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


@dataclass
class Step:
    """What a live request does next: ``consult`` a model, or ``answer`` with the response of a
    model already consulted (``model`` indexes the router's models). A pre-router consults its
    choice and answers with it; a cascade consults its stages in turn until its estimator's
    ``confidence`` reaches ``threshold``, then the final model (see :meth:`LearnedRouter.next_step`)."""

    action: str  # "consult" or "answer"
    model: int
    confidence: float | None = None  # the acceptance score behind this step (cascades)
    threshold: float | None = None
    stage: int | None = None  # stages consulted before this step (cascades)


def answered(step: Step, responses: Mapping[int, str | None], order: Sequence[int]) -> Step:
    """``step``, or, when it answers with a model whose call failed (response None), an answer by
    the first model of ``order`` that did respond (``step`` unchanged when none did)."""
    if step.action != "answer" or responses.get(step.model) is not None:
        return step
    j = next((j for j in order if responses.get(j) is not None), None)
    return step if j is None else replace(step, model=j)


class LearnedRouter(ABC):
    """Base of every router: the models it chooses among, its knob, and its saved state."""

    kind: ClassVar[str] = ""
    knob_name: ClassVar[str] = "lambda"

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(params)
        self.models: list[str] = []
        self.knob: float = 0.0
        self.mix: tuple[float, float] | None = None  # (other knob value, share of prompts routed at it)
        self.strong: str | None = None  # the strongest model (for two-model metrics)
        self.calibration: dict[str, Any] = {}
        self.embedder: str = "minilm"
        self.prefixes: list[str] = []  # per-task boilerplate stripped before embedding
        self.suffixes: list[str] = []  # per-task closing instructions, likewise
        self.fitted_on: np.ndarray | None = None  # fingerprints of the prompts fitted on (split.fingerprints)
        self.info: dict[str, Any] = {}  # what route fit recorded: the outcome files and split it fitted on

    @abstractmethod
    def fit(self, table: OutcomeTable, emb: np.ndarray) -> LearnedRouter: ...

    @abstractmethod
    def knob_grid(self) -> np.ndarray: ...

    @abstractmethod
    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        """Operating points on recorded outcomes, one row per knob value (default: the grid)."""

    def knob_for(self, prompt: str) -> float:
        """The knob value a live prompt is routed at: the calibrated one, or under a ``mix`` the
        other value for the prompts whose :func:`mix_draw` is under its share (a prompt is always
        routed alike)."""
        if self.mix is None:
            return self.knob
        other, share = self.mix
        return other if mix_draw(prompt) < share else self.knob

    def calibrated_points(self, table: OutcomeTable, emb: np.ndarray) -> OperatingPoints:
        """Operating points (one row) of the calibrated setting, each prompt at :meth:`knob_for`'s value."""
        if self.mix is None:
            return self.points(table, emb, np.array([self.knob]))
        both = self.points(table, emb, np.array([self.knob, self.mix[0]]))
        other = np.array([mix_draw(p) < self.mix[1] for p in table.prompts])
        return OperatingPoints(*(np.where(other, a[1], a[0])[None, :] for a in (both.quality, both.cost, both.strong)))

    @abstractmethod
    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        """The live decision for one prompt (its 1-D embedding and routing text) among ``allowed`` models."""

    def next_step(self, emb: np.ndarray, prompt: str, responses: Mapping[int, str | None],
                  knob: float | None = None, allowed: Sequence[int] | None = None) -> Step:
        """The next live step for one prompt (its embedding and full text), given the ``responses``
        of the models consulted so far (by model index; None: the call failed). This default routes
        once: consult the chosen model, then answer with it; if that call failed, route again
        among the models not yet tried (when every one failed, the step answers with a failed
        model and the caller reports the failures)."""
        text = strip_prefixes(prompt, self.prefixes)
        pool = list(range(len(self.models)) if allowed is None else allowed)
        left = [j for j in pool if responses.get(j, "") is not None]
        d = self.choose(emb, knob=knob, allowed=left or pool, text=text)
        j = self.models.index(d.chosen_model)
        return Step("answer" if j in responses else "consult", j)

    @abstractmethod
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able parameters, named arrays) that fully describe the fitted router."""

    @abstractmethod
    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned (``models`` and the shared fields are already set)."""

    def _check_fitted(self, table: OutcomeTable) -> None:
        missing = [m for m in self.models if m not in table.models]
        if missing:
            raise RoutingError([Problem("outcomes", f"the router chooses among {self.models}, but the outcome "
                                                    f"table has no column for {missing} (it has {table.models}); "
                                                    "evaluate it on outcomes of the models it was fitted on")])

    def align(self, table: OutcomeTable) -> OutcomeTable:
        """``table`` with its model columns in the router's order (a RoutingError when one is missing)."""
        self._check_fitted(table)
        cols = [table.models.index(m) for m in self.models]
        return OutcomeTable(table.ids, table.prompts, table.tasks, list(self.models), table.scores[:, cols],
                            table.costs[:, cols],
                            None if table.responses is None else [[r[c] for c in cols] for r in table.responses],
                            table.notes)


_REGISTRY: dict[str, type[LearnedRouter]] = {}


_R = TypeVar("_R", bound=type[LearnedRouter])


def register_router(cls: _R) -> _R:
    """Make a router kind available to ``route fit --kind`` and to router files (a class decorator).

    Refuses a class without a ``kind`` or with a method of the interface left unimplemented
    (say, one written for the older private ``_state`` / ``_load_state`` pair), naming them.
    """
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if not cls.kind or missing:
        what = "set the class attribute `kind`" if not cls.kind else f"implement {missing}"
        raise RoutingError([Problem(f"router kind {cls.__name__}", f"cannot be registered: {what} "
                                    "(see tierflow.routing.routers.base)")])
    _REGISTRY[cls.kind] = cls
    return cls


def _builtin_kinds() -> None:
    """Register the built-in kinds (importing :mod:`tierflow.routing.routers` does)."""
    importlib.import_module("tierflow.routing.routers")


def router_class(kind: str) -> type[LearnedRouter]:
    """The registered class of ``kind``; a RoutingError listing the kinds when there is none."""
    _builtin_kinds()
    if kind not in _REGISTRY:
        raise RoutingError([Problem("kind", f"unknown router kind {kind!r}; expected one of {sorted(_REGISTRY)}")])
    return _REGISTRY[kind]


def router_kinds() -> list[str]:
    """The registered kinds, sorted."""
    _builtin_kinds()
    return sorted(_REGISTRY)


def fill_costs(table: OutcomeTable) -> np.ndarray:
    """Costs with unknown cells replaced by the model's mean; all 1.0 for a table with no costs at all
    (routed by quality alone: ``check_priced`` refuses a table where only some models have costs)."""
    means = np.nanmean(np.where(np.isnan(table.costs), np.nan, table.costs), axis=0) \
        if not np.isnan(table.costs).all() else np.ones(len(table.models))
    means = np.where(np.isnan(means), 1.0, means)
    return np.where(np.isnan(table.costs), means[None, :], table.costs)


def strongest_model(table: OutcomeTable) -> str:
    """The model with the best mean recorded score."""
    q = np.nanmean(table.scores, 0)
    return table.models[int(np.nanargmax(q))]


class PredictiveRouter(LearnedRouter):
    """A pre-router: predicts per-model quality and cost from the prompt, then trades them off."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.cost_unit = 1.0

    def fit_common(self, table: OutcomeTable) -> None:
        """What every pre-router's ``fit`` starts with: the models, the strongest one, the cost unit."""
        self.models = list(table.models)
        self.strong = strongest_model(table)
        costs = fill_costs(table)
        self.cost_unit = float(costs.mean()) or 1.0

    @abstractmethod
    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(predicted quality, predicted cost), each (n, m); ``texts`` are the routing texts."""

    def knob_grid(self) -> np.ndarray:
        return LAMBDA_GRID

    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        table = self.align(table)
        # scored as it routes live, from the prompt alone: live requests carry no task label (the
        # ``per_task`` baseline of route eval is the router that is given them)
        qhat, chat = self.predict(emb, None, [strip_prefixes(p, self.prefixes) for p in table.prompts])
        knobs = self.knob_grid() if knobs is None else knobs
        choices = np.stack([choose_by_tradeoff(qhat, chat, k, self.cost_unit) for k in knobs])
        strong = self.models.index(self.strong) if self.strong in self.models else -1
        table = OutcomeTable(table.ids, table.prompts, table.tasks, table.models, table.scores,
                             fill_costs(table), None, table.notes)
        return points_from_choices(table, choices, strong)

    def _utility(self, qhat: np.ndarray, chat: np.ndarray, lam: float, allowed: Sequence[int] | None) -> np.ndarray:
        """Each model's trade-off value at knob ``lam`` (cost alone at the infinite knob); -inf for a model
        not ``allowed``."""
        utility = -chat if np.isinf(lam) else qhat - lam * chat / self.cost_unit
        if allowed is None:
            return utility
        barred = np.full(len(self.models), True)
        barred[list(allowed)] = False
        return np.where(barred, -np.inf, utility)

    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        qhat, chat = self.predict(emb[None, :], None if task is None else [task], None if text is None else [text])
        utility = self._utility(qhat[0], chat[0], self.knob if knob is None else knob, allowed)
        order = [int(j) for j in np.argsort(-utility, kind="stable") if np.isfinite(utility[j])]
        best = order[0]
        decision = Decision(chosen_model=self.models[best], predicted_quality=float(qhat[0, best]),
                            predicted_cost=float(chat[0, best]))
        if len(order) > 1:
            second = order[1]
            decision.runner_up_model = self.models[second]
            decision.runner_up_quality, decision.runner_up_cost = float(qhat[0, second]), float(chat[0, second])
        return decision
