"""Cascade routing on recorded responses: consult cheap models first, escalate on low confidence.

The cascade consults its *stages* (cheap models, in an order chosen on training data) one by
one. After each, it forms a candidate answer (the answer most consulted models agree on, by
extracted final answer; ties go to the model the kNN prior trusts more) and a learned estimator
gives the probability that the candidate is right, from task-agnostic signals:

- agreement: share of consulted models giving the candidate answer, number of distinct answers,
  their prior-weighted vote;
- the kNN prior: how often each model was right on the most similar training prompts;
- the candidate response itself: length, hedging, an extractable answer, the arithmetic it
  writes down checking out, its code compiling and passing the prompt's asserts.

The candidate is accepted when that probability reaches the knob (``threshold``); otherwise the
next stage is consulted, and after the last the *final* model (the best single one) answers.
Every model consulted is charged. The threshold sweeps the curve from "first stage only"
(0) to "every stage and then the final model" (above 1).

With ``vote=auto`` (the default) the cascade is fitted both ways and keeps the weighted vote
only when its out-of-fold curve on the training outcomes gains ``AUTO_VOTE_MARGIN`` (see
:meth:`CascadeRouter._fit_auto`).
With ``vote=weighted`` the answer returned is a weighted vote over every consulted model's
extracted answer (weights: log-odds of each model's accuracy on the prompt's task group, see
:mod:`tierflow.routing.routers.cascade.vote`), the vote's share and margin become estimator features, and on
escalation the final model votes too; its weight is scaled by a factor chosen on the training
rows, since real models share their mistakes and the naive vote would overrule it too often.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.curves import OperatingPoints, range_aiq
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.routers.base import (
    LAMBDA_GRID,
    Decision,
    LearnedRouter,
    Step,
    fill_costs,
    register_router,
)
from tierflow.routing.routers.cascade.chain import (
    FINAL_SAY,
    MIN_ACCEPT,
    THRESHOLDS,
    Chain,
    Logistic,
    chain_points,
    chain_run,
    chain_step,
    final_say,
    fit_chain,
    middle_of_plateau,
    single_model_step,
    supported,
)
from tierflow.routing.routers.cascade.features import Context, final_quality
from tierflow.routing.routers.cascade.groups import nearest_group, task_groups
from tierflow.routing.routers.cascade.vote import log_odds_weights
from tierflow.routing.routers.knn import cross_fitted_average, knn_average, neighbourhood

AUTO_VOTE_MARGIN = 0.005  # out-of-fold gain the weighted vote needs over the plain answer


@register_router
class CascadeRouter(LearnedRouter):
    """Cheap models first, a learned confidence estimator decides when to stop (see module doc).

    Prompts are grouped by task (see :func:`~tierflow.routing.routers.cascade.groups.task_groups`: tasks
    with at least ``min_group`` training prompts, smaller tasks asked with one template pooled, other
    prompts in the group with the nearest centroid) and each group gets its own chain of models, since
    the cheap model worth asking first differs from one kind of request to another. Per group,
    the options are the chain at each threshold or a single model for every prompt; the knob
    ``lambda`` trades quality against cost, and each group takes the option that maximises
    ``quality - lambda * cost / cost_unit`` on its out-of-fold training outcomes.
    """

    kind = "cascade"
    knob_name = "lambda"

    def knob_grid(self) -> np.ndarray:
        return LAMBDA_GRID

    def _settings(self) -> None:
        self.k_choice: dict[str, Any] | None = None  # how the prior's k was measured (set by fit)
        self.c = float(self.params.get("C", 0.5))
        self.verify = bool(self.params.get("verify_code", False))
        self.rule = str(self.params.get("rule", "gain"))
        self.vote = str(self.params.get("vote", "auto"))  # "weighted": answer by a vote of all consulted
        if self.vote not in ("auto", "none", "weighted"):
            raise RoutingError([Problem("param vote", f"expected 'auto', 'none' or 'weighted', got {self.vote!r}")])
        self.vote_choice: dict[str, Any] | None = None
        self.min_accept = self.params.get("min_accept", MIN_ACCEPT)
        if type(self.min_accept) is not int or self.min_accept < 1:
            raise RoutingError([Problem("param min_accept", f"expected a whole number of prompts (1 or more), "
                                                            f"got {self.min_accept!r}")])

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> CascadeRouter:
        self._settings()
        self.k, self.k_choice = neighbourhood(self.params.get("k", "auto"), emb, table.scores)  # once for both modes
        return self._fit_auto(table, emb) if self.vote == "auto" else self._fit_one(table, emb)

    def _fit_one(self, table: OutcomeTable, emb: np.ndarray) -> CascadeRouter:
        self.models = list(table.models)
        self.keys = emb.astype(np.float16).astype(np.float64)  # as saved; float64 as knn_average computes
        self.key_scores = table.scores.astype(np.float32)
        prior = cross_fitted_average(emb, table.scores, self.k)
        ctx = Context(table, prior, self.verify)
        self.group_names, groups, self.centroids = task_groups(table, emb, int(self.params.get("min_group", 100)))
        fixed = [self.models.index(m) for m in self.params.get("stages", [])]
        max_stages = int(self.params.get("max_stages", 3))
        mq = np.nanmean(table.scores, 0)
        self.strong = self.models[int(np.nanargmax(mq))]
        self.cost_unit = float(ctx.costs.mean()) or 1.0
        self.chains, self.option_q, self.option_c, self.option_ok = [], [], [], []
        weights = np.stack([log_odds_weights(ctx.scores[rows].mean(0)) for rows in groups])
        self.vote_weights = weights
        vote_w: np.ndarray | None = None  # every training row's vote weights, when the vote is weighted
        if self.vote == "weighted":
            # every training row of a group votes with the group's weights, as live prompts do; weights
            # that varied with a row's own score (leave-one-out) would let ties in the vote read labels
            group_of_row = np.zeros(table.n, int)
            for g, rows in enumerate(groups):
                group_of_row[rows] = g
            vote_w = ctx.vote_w = weights[group_of_row]
        group_pts, unscorable = [], 0
        for g, rows in enumerate(groups):
            chain, pts, accepted = fit_chain(ctx, rows, fixed, max_stages, self.c, self.rule)
            if vote_w is not None:
                factor = final_say(Context.subset(ctx, rows), chain.stages, chain.final)
                vote_w[rows, chain.final] *= factor
                weights[g, chain.final] *= factor
                pts, accepted = chain_run(Context.subset(ctx, rows), chain.stages, chain.final, self.c, self.rule,
                                          None, None)
            pts = self._with_singles(pts, Context.subset(ctx, rows))
            self.option_ok.append(np.concatenate([supported(accepted, self.min_accept),
                                                  np.ones(len(self.models), bool)]))
            self.chains.append(chain)
            q, c, _ = pts.means()
            self.option_q.append(q)
            self.option_c.append(c)
            group_pts.append((rows, pts))
            unscorable += int(final_quality(Context.subset(ctx, rows), chain.stages, chain.final)[1].sum())
        self.oof_points = self._combine(group_pts, LAMBDA_GRID, table.n)  # for choosing the answer mode
        # rows whose full vote was won by a response with no extractable answer (scored on its own)
        self.vote_unscorable = {"rows": table.n, "unscorable": unscorable} if self.vote == "weighted" else None
        return self

    def _fit_auto(self, table: OutcomeTable, emb: np.ndarray) -> CascadeRouter:
        """Fit with each answer mode; keep the weighted vote only where it clearly wins out of fold.

        Real models often share their mistakes, so the vote helps on some tables and not on
        others. It is kept when its out-of-fold curve gains ``AUTO_VOTE_MARGIN`` in AIQ, or in
        the best quality reached without losing AIQ (a vote can only help where several models
        were consulted: the costly top of the curve, which AIQ weighs little).
        """
        costs, scores = fill_costs(table), np.nan_to_num(table.scores, nan=0.0)
        mq, mc = scores.mean(0), costs.mean(0)
        fitted, oof = {}, {}
        for vote in ("none", "weighted"):
            self.vote = vote
            fitted[vote] = dict(self._fit_one(table, emb).__dict__)  # fitting assigns fresh attributes
            q, c, _ = self.oof_points.means()
            oof[vote] = {"aiq": range_aiq(c, q, float(mc.min()), float(mc.max()), float(mq[np.argmin(mc)])),
                         "max_quality": float(q.max())}
        gain = {k: oof["weighted"][k] - oof["none"][k] for k in ("aiq", "max_quality")}
        wins = gain["aiq"] > AUTO_VOTE_MARGIN or (gain["max_quality"] > AUTO_VOTE_MARGIN and gain["aiq"] >= 0)
        pick = "weighted" if wins else "none"
        self.__dict__.update(fitted[pick])
        self.vote_choice = {"chosen": pick, "out_of_fold": oof, "margin": AUTO_VOTE_MARGIN}
        return self

    def _with_singles(self, pts: OperatingPoints, ctx: Context) -> OperatingPoints:
        """Append the options "always model j" to a chain's threshold options."""
        assert self.strong is not None, "set by fit before the options are built"
        strong = self.models.index(self.strong)
        sq, sc = ctx.scores.T, ctx.costs.T
        ss = (np.arange(len(self.models)) == strong)[:, None] * np.ones_like(sq)
        return OperatingPoints(np.vstack([pts.quality, sq]), np.vstack([pts.cost, sc]), np.vstack([pts.strong, ss]))

    def _option(self, g: int, lam: float) -> int:
        """Group ``g``'s option at knob ``lam``: the supported option maximising quality - lam * cost
        on the training prompts, a threshold taken from the middle of the run of thresholds that do
        the same there (see :func:`~tierflow.routing.routers.cascade.chain.middle_of_plateau`)."""
        q, c, ok = self.option_q[g], self.option_c[g], self.option_ok[g]
        if np.isinf(lam):
            best = int(np.lexsort((-q, np.where(ok, c, np.inf)))[0])
        else:
            best = int(np.argmax(np.where(ok, q - lam * c / self.cost_unit - 1e-12 * c, -np.inf)))
        return middle_of_plateau(q, c, ok, best)

    def _combine(self, group_pts: list[tuple[np.ndarray, OperatingPoints]], knobs: np.ndarray,
                 n: int) -> OperatingPoints:
        out = OperatingPoints(*(np.zeros((len(knobs), n)) for _ in range(3)))
        for g, (rows, pts) in enumerate(group_pts):
            pick = [self._option(g, lam) for lam in knobs]
            out.quality[:, rows], out.cost[:, rows] = pts.quality[pick], pts.cost[pick]
            out.strong[:, rows] = pts.strong[pick]
        return out

    def _group_of(self, emb: np.ndarray) -> np.ndarray:
        return nearest_group(emb, self.centroids)

    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        table = self.align(table)
        knobs = LAMBDA_GRID if knobs is None else knobs
        prior = knn_average(emb.astype(np.float32), self.keys, self.key_scores, self.k)
        ctx = Context(table, prior, self.verify)
        group = self._group_of(emb) if len(self.chains) > 1 else np.zeros(table.n, int)
        if self.vote == "weighted":
            ctx.vote_w = self.vote_weights[group]
        group_pts = []
        for g, chain in enumerate(self.chains):
            rows = np.nonzero(group == g)[0]
            if not len(rows):  # no prompt of this table falls in the group
                empty = np.zeros((len(THRESHOLDS) + len(self.models), 0))
                group_pts.append((rows, OperatingPoints(empty, empty, empty)))
                continue
            sub = Context.subset(ctx, rows)
            pts = chain_points(sub, chain.stages, chain.final, self.c, self.rule, None, chain.estimators)
            group_pts.append((rows, self._with_singles(pts, sub)))
        return self._combine(group_pts, knobs, table.n)

    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        """Live: the first allowed stage of the prompt's chain; escalation is the caller's (cascade pattern)."""
        prior = knn_average(emb[None, :].astype(np.float32), self.keys, self.key_scores, self.k)[0]
        g = int(self._group_of(emb[None, :])[0]) if len(self.chains) > 1 else 0
        chain = self.chains[g]
        option = self._option(g, self.knob if knob is None else knob)
        stages = chain.stages if option < len(THRESHOLDS) else [option - len(THRESHOLDS)]
        ok = [j for j in stages if allowed is None or j in allowed] or [chain.final]
        return Decision(chosen_model=self.models[ok[0]], predicted_quality=float(prior[ok[0]]),
                        predicted_cost=float(self.calibration.get("expected_cost", float("nan"))),
                        runner_up_model=self.models[chain.final], runner_up_quality=float(prior[chain.final]),
                        details={"cascade": [self.models[j] for j in chain.stages] + [self.models[chain.final]],
                                 "threshold": float(THRESHOLDS[option]) if option < len(THRESHOLDS) else None,
                                 "vote": self.vote})

    def next_step(self, emb: np.ndarray, prompt: str, responses: Mapping[int, str | None],
                  knob: float | None = None, allowed: Sequence[int] | None = None) -> Step:
        """Live: run the prompt's chain as :meth:`points` scores it, one consulted model at a time.

        Consult the chain's stages in order; after each, answer with the candidate when the
        estimator's acceptance score reaches the knob's threshold; after the last, consult the
        final model and answer with it (or, voting, with the vote of every consulted model).
        Where the knob picks one model for the prompt's group, consult it and answer with it.
        A response of None is a call that failed: it counts as consulted, is never the answer,
        and the chain goes on (see :func:`answered`).
        """
        g = int(self._group_of(emb[None, :])[0]) if len(self.chains) > 1 else 0
        chain = self.chains[g]
        option = self._option(g, self.knob if knob is None else knob)
        if option >= len(THRESHOLDS):
            return single_model_step(option - len(THRESHOLDS), chain.final, responses)
        self._check_allowed(chain, allowed)
        ctx = self._live_context(emb, prompt, responses, g)
        return chain_step(ctx, chain, float(THRESHOLDS[option]), self.rule, responses)

    def _check_allowed(self, chain: Chain, allowed: Sequence[int] | None) -> None:
        """Refuse a chain that would consult a model no candidate role maps to."""
        needed = [self.models[j] for j in dict.fromkeys(chain.stages + [chain.final]) if allowed is not None
                  and j not in allowed]
        if needed:
            raise RoutingError([Problem("candidates", f"the cascade for this prompt consults {needed}, which map to "
                                                      f"no candidate role; map every model of the chain to a role")])

    def _live_context(self, emb: np.ndarray, prompt: str, responses: Mapping[int, str | None], g: int) -> Context:
        """The one-row :class:`Context` of a live prompt: its responses so far and its kNN prior."""
        m = len(self.models)
        table = OutcomeTable(["live"], [prompt], ["live"], list(self.models), np.zeros((1, m)),
                             np.full((1, m), np.nan), [[responses.get(j) for j in range(m)]])
        prior = knn_average(emb[None, :].astype(np.float32), self.keys, self.key_scores, self.k)
        ctx = Context(table, prior, self.verify)
        if self.vote == "weighted":
            ctx.vote_w = self.vote_weights[[g]]
        return ctx

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"k": self.k, "k_choice": self.k_choice, "C": self.c, "verify_code": self.verify, "rule": self.rule,
                "min_accept": self.min_accept,
                "vote": self.vote, "vote_choice": self.vote_choice,
                "vote_unscorable": self.vote_unscorable, "groups": self.group_names,
                "strong": self.strong, "cost_unit": self.cost_unit,
                "chains": [{"stages": ch.stages, "final": ch.final, "training_aiq": ch.training_aiq,
                            "models": [self.models[j] for j in ch.stages] + [self.models[ch.final]]}
                           for ch in self.chains]}
        arrays: dict[str, np.ndarray] = {
            "keys": self.keys.astype(np.float16), "key_scores": self.key_scores, "centroids": self.centroids,
            "option_quality": np.stack(self.option_q), "option_cost": np.stack(self.option_c),
            "option_supported": np.stack(self.option_ok).astype(np.int8), "vote_weights": self.vote_weights}
        for g, ch in enumerate(self.chains):
            for s, e in enumerate(ch.estimators):
                arrays[f"group{g}_stage{s}"] = np.concatenate([[e.bias], e.coef, e.mean, e.std])
        return meta, arrays

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._settings()
        self.k, self.c, self.verify = int(meta["k"]), float(meta["C"]), bool(meta["verify_code"])
        self.rule, self.group_names = str(meta.get("rule", "confidence")), list(meta["groups"])
        self.vote, self.vote_unscorable = str(meta.get("vote", "none")), meta.get("vote_unscorable")
        self.vote_choice, self.k_choice = meta.get("vote_choice"), meta.get("k_choice")
        self.vote_weights = arrays.get("vote_weights", np.ones((len(meta["chains"]), len(self.models))))
        self.keys, self.key_scores = arrays["keys"].astype(np.float64), arrays["key_scores"]
        self.centroids = arrays["centroids"]
        self.strong, self.cost_unit = meta["strong"], float(meta["cost_unit"])
        self.option_q, self.option_c = list(arrays["option_quality"]), list(arrays["option_cost"])
        # files written before thresholds were checked for support offer every option
        self.min_accept = int(meta.get("min_accept", 1))
        ok = arrays.get("option_supported", np.ones_like(arrays["option_cost"]))
        self.option_ok = [row.astype(bool) for row in ok]
        self.chains = []
        for g, raw in enumerate(meta["chains"]):
            estimators = []
            for s in range(len(raw["stages"])):
                v = arrays[f"group{g}_stage{s}"]
                f = (len(v) - 1) // 3
                estimators.append(Logistic(v[1 + f:1 + 2 * f], v[1 + 2 * f:], v[1:1 + f], float(v[0])))
            self.chains.append(Chain([int(j) for j in raw["stages"]], int(raw["final"]), estimators,
                                      raw.get("training_aiq")))


__all__ = ["AUTO_VOTE_MARGIN", "CascadeRouter", "FINAL_SAY", "THRESHOLDS"]
