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

With ``vote=weighted`` the answer returned is a weighted vote over every consulted model's
extracted answer (weights: log-odds of each model's accuracy on the prompt's task group, see
:mod:`tierflow.routing.vote`), the vote's share and margin become estimator features, and on
escalation the final model votes too; its weight is scaled by a factor chosen on the training
rows, since real models share their mistakes and the naive vote would overrule it too often.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.answers import (
    CodeVerifier,
    extract_answer,
    extract_code,
    response_features,
)
from tierflow.routing.evaluate import OperatingPoints, aiq
from tierflow.routing.outcomes import OutcomeTable
from tierflow.routing.routers import (
    LAMBDA_GRID,
    Decision,
    Router,
    _fill_costs,
    _knn_average,
    prompt_features,
    register_router,
)
from tierflow.routing.vote import (
    leave_one_out_accuracy,
    log_odds_weights,
    vote_quality,
    weighted_vote,
)

_FOLDS = 5


class _Context:
    """Everything the stage features need about a table: priors, answers, verdicts, costs."""

    def __init__(self, table: OutcomeTable, prior: np.ndarray, verify: bool) -> None:
        self.table, self.prior = table, prior
        self.scores = np.nan_to_num(table.scores, nan=0.0)
        self.costs = _fill_costs(table)
        m = len(table.models)
        resp = table.responses or [[None] * m for _ in range(table.n)]
        self.answers = [[extract_answer(r) for r in row] for row in resp]
        verifier = CodeVerifier() if verify else None
        self._resp_feats: dict[tuple[int, int], np.ndarray] = {}
        self._verifier = verifier
        self._resp = resp
        self.prompt_feats = np.array([prompt_features(p) for p in table.prompts])
        self.vote_w: np.ndarray | None = None  # (n, m) vote weights when answers are voted on

    @staticmethod
    def subset(ctx: _Context, rows: np.ndarray) -> _Context:
        """A view of ``ctx`` restricted to ``rows`` (shares the verifier; recomputes nothing heavy)."""
        sub = object.__new__(_Context)
        sub.table, sub.prior = ctx.table.subset(rows), ctx.prior[rows]
        sub.scores, sub.costs = ctx.scores[rows], ctx.costs[rows]
        sub.answers = [ctx.answers[i] for i in rows]
        sub._verifier, sub._resp = ctx._verifier, [ctx._resp[i] for i in rows]
        sub.prompt_feats = ctx.prompt_feats[rows]
        sub._resp_feats = {}
        sub.vote_w = None if ctx.vote_w is None else ctx.vote_w[rows]
        return sub

    def response_feats(self, i: int, j: int) -> np.ndarray:
        key = (i, j)
        if key not in self._resp_feats:
            r = self._resp[i][j]
            verdict = None
            if self._verifier is not None and r is not None and extract_code(r) is not None:
                verdict = self._verifier.verify(self.table.prompts[i], r)
            self._resp_feats[key] = response_features(self.table.prompts[i], r, verdict)
        return self._resp_feats[key]


def _stage_features(ctx: _Context, stages: list[int], final: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the features after consulting ``stages`` and the candidate's score (the
    plurality answer's model, or the weighted vote's answer when ``ctx.vote_w`` is set)."""
    if ctx.vote_w is not None:
        return _voted_stage_features(ctx, stages, final)
    k = len(stages)
    rows, cands = [], []
    for i in range(ctx.table.n):
        groups: dict[str, list[int]] = {}
        for j in stages:
            a = ctx.answers[i][j]
            groups.setdefault(a if a is not None else f"\0{j}", []).append(j)
        def weight(members: list[int]) -> tuple[int, float]:
            return len(members), float(sum(ctx.prior[i, j] for j in members))
        best_key = max(groups, key=lambda g: weight(groups[g]))
        members = groups[best_key]
        cand = max(members, key=lambda j: ctx.prior[i, j])
        count, wsum = weight(members)
        total = float(sum(ctx.prior[i, j] for j in stages)) or 1e-9
        pri = ctx.prior[i, stages]
        base = [count / k, float(count == k and k > 1), len(groups) / k, wsum / total,
                ctx.prior[i, cand], ctx.prior[i, final], pri.max(), pri.mean(),
                float(best_key.startswith("\0"))]
        agree = [float(j in members) for j in stages]  # which models back the candidate
        agree += [float(ctx.answers[i][a] is not None and ctx.answers[i][a] == ctx.answers[i][b])
                  for x, a in enumerate(stages) for b in stages[x + 1:]]  # which pairs agree
        rows.append(np.concatenate([base, agree, ctx.prompt_feats[i], ctx.response_feats(i, cand)]))
        cands.append(cand)
    return np.array(rows), ctx.scores[np.arange(ctx.table.n), np.array(cands, dtype=int)]


def _voted_stage_features(ctx: _Context, stages: list[int], final: int) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_stage_features`, with the weighted vote's answer as the candidate and its
    weight share and margin as features (see :mod:`tierflow.routing.vote`)."""
    assert ctx.vote_w is not None
    k = len(stages)
    rows, quality = [], []
    for i in range(ctx.table.n):
        v = weighted_vote(ctx.answers[i], stages, ctx.vote_w[i], ctx.prior[i])
        cand = max(v.members, key=lambda j: ctx.prior[i, j])
        pri = ctx.prior[i, stages]
        base = [len(v.members) / k, float(len(v.members) == k and k > 1), v.n_answers / k, v.share, v.margin,
                ctx.prior[i, cand], ctx.prior[i, final], pri.max(), pri.mean(), float(v.answer is None)]
        agree = [float(j in v.members) for j in stages]
        rows.append(np.concatenate([base, agree, ctx.prompt_feats[i], ctx.response_feats(i, cand)]))
        quality.append(vote_quality(v, ctx.scores[i]))
    return np.array(rows), np.array(quality)


def _final_quality(ctx: _Context, stages: list[int], final: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the score returned on escalation and whether it could not be scored by answer:
    the final model's own score, or with voting the vote of every consulted model."""
    if ctx.vote_w is None:
        return ctx.scores[:, final], np.zeros(ctx.table.n, bool)
    voters = list(dict.fromkeys(stages + [final]))
    votes = [weighted_vote(ctx.answers[i], voters, ctx.vote_w[i], ctx.prior[i]) for i in range(ctx.table.n)]
    return (np.array([vote_quality(v, ctx.scores[i]) for i, v in enumerate(votes)]),
            np.array([v.answer is None for v in votes]))


class _Logistic:
    """Standardised logistic regression, stored as plain arrays."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, coef: np.ndarray, bias: float) -> None:
        self.mean, self.std, self.coef, self.bias = mean, std, coef, bias

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float) -> _Logistic:
        from sklearn.linear_model import LogisticRegression

        mean, std = x.mean(0), x.std(0) + 1e-6
        yb = y >= 0.5
        if yb.all() or not yb.any():
            return cls(mean, std, np.zeros(x.shape[1]), 8.0 if yb.all() else -8.0)
        lr = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / std, yb)
        return cls(mean, std, lr.coef_[0], float(lr.intercept_[0]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(((x - self.mean) / self.std) @ self.coef + self.bias)))


def _oof(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Out-of-fold probabilities (deterministic interleaved folds)."""
    out = np.zeros(len(y))
    fold = np.arange(len(y)) % _FOLDS
    for f in range(_FOLDS):
        test = fold == f
        out[test] = _Logistic.fit(x[~test], y[~test], c).predict(x[test])
    return out


def _simulate(probs: np.ndarray, qual: np.ndarray, cum_cost: np.ndarray, final_q: np.ndarray,
              final_c: np.ndarray, thresholds: np.ndarray) -> OperatingPoints:
    """Operating points of the cascade for each threshold."""
    s, n = probs.shape
    q, c, strong = np.zeros((len(thresholds), n)), np.zeros((len(thresholds), n)), np.zeros((len(thresholds), n))
    cols = np.arange(n)
    for t, tau in enumerate(thresholds):
        ok = probs >= tau
        first = np.where(ok.any(0), ok.argmax(0), s)
        escalate = first == s
        stop = np.minimum(first, s - 1)
        q[t] = np.where(escalate, final_q, qual[stop, cols])
        c[t] = np.where(escalate, cum_cost[-1] + final_c, cum_cost[stop, cols])
        strong[t] = escalate
    return OperatingPoints(q, c, strong)


THRESHOLDS = np.concatenate([np.linspace(0.0, 1.0, 101), [1.01]])


@dataclass
class _Chain:
    """The cascade of one group of prompts: its stages, its final model, one estimator per stage."""

    stages: list[int]
    final: int
    estimators: list[_Logistic]
    training_aiq: float | None = None


def _fit_chain(ctx: _Context, rows: np.ndarray, fixed: list[int], max_stages: int, c: float, rule: str
               ) -> tuple[_Chain, OperatingPoints]:
    """Greedily pick the stages that most raise the out-of-fold AIQ of ``rows``; fit the estimators."""
    sub = _Context.subset(ctx, rows)
    mq, mc = sub.scores.mean(0), sub.costs.mean(0)
    final = int(np.lexsort((mc, -mq))[0])
    scale_args = (float(mc.min()), float(mc.max()), float(mq[np.argmin(mc)]))
    candidates = [int(j) for j in np.argsort(mc) if j != final and mc[j] < mc[final]]
    stages, cache, best = list(fixed), {}, -np.inf
    while not fixed and len(stages) < max_stages:
        trials = []
        for j in candidates:
            if j not in stages:
                q, cost, _ = _chain_points(sub, stages + [j], final, c, rule, cache, None).means()
                trials.append((aiq(cost, q, scale_args[0], scale_args[1], scale_args[2]), j))
        if not trials or max(trials)[0] <= best + 1e-3:
            break
        best, j = max(trials)
        stages.append(j)
    stages = stages or [final]  # nothing cheaper than the final model
    oof = _chain_points(sub, stages, final, c, rule, cache, None)
    estimators = []
    for s in range(len(stages)):
        x, y = cache.get(tuple(stages[:s + 1])) or _stage_features(sub, stages[:s + 1], final)
        estimators.append(_Logistic.fit(x, y, c))
    return _Chain(stages, final, estimators, best if np.isfinite(best) else None), oof


def _accept_score(p: np.ndarray, ctx: _Context, final: int, rule: str) -> np.ndarray:
    """What the threshold is compared with: P(candidate right), or under the ``gain`` rule
    0.5 + (P(candidate right) - P(final model right)) / 2, so hard prompts escalate sooner."""
    if rule == "gain":
        return np.clip(0.5 + (p - ctx.prior[:, final]) / 2, 0.0, 1.0)
    return p


def _chain_points(ctx: _Context, stages: list[int], final: int, c: float, rule: str,
                  cache: dict | None, estimators: list[_Logistic] | None,
                  thresholds: np.ndarray = THRESHOLDS) -> OperatingPoints:
    """Operating points of one chain: out-of-fold when ``estimators`` is None, else with them."""
    probs, qual, cum = [], [], []
    n = ctx.table.n
    total = np.zeros(n)
    for s in range(len(stages)):
        key = tuple(stages[:s + 1])
        if cache is not None and key in cache:
            x, y = cache[key]
        else:
            x, y = _stage_features(ctx, list(key), final)
            if cache is not None:
                cache[key] = (x, y)
        p = _oof(x, y, c) if estimators is None else estimators[s].predict(x)
        probs.append(_accept_score(p, ctx, final, rule))
        qual.append(y)
        total = total + ctx.costs[:, stages[s]]
        cum.append(total.copy())
    final_q, _ = _final_quality(ctx, stages, final)
    return _simulate(np.array(probs), np.array(qual), np.array(cum), final_q, ctx.costs[:, final], thresholds)


#: Multipliers of the final model's vote weight tried on the training rows (inf: it always wins).
FINAL_SAY = (1.0, 1.5, 2.0, 3.0, np.inf)


def _final_say(ctx: _Context, stages: list[int], final: int) -> float:
    """The multiplier of the final model's vote weight with the best training quality on escalation.

    Log-odds weights assume independent errors; real models share theirs, so cheap models
    agreeing against the strong one are right less often than the weights say. Ties go to the
    larger multiplier (closer to "the final model decides").
    """
    assert ctx.vote_w is not None
    best, best_q = np.inf, -1.0
    for factor in sorted(FINAL_SAY, reverse=True):
        sub = _Context.subset(ctx, np.arange(ctx.table.n))
        sub.vote_w = ctx.vote_w.copy()
        sub.vote_w[:, final] = 1e6 if np.isinf(factor) else sub.vote_w[:, final] * factor
        q = float(_final_quality(sub, stages, final)[0].mean())
        if q > best_q + 1e-9:
            best, best_q = factor, q
    return 1e6 / max(float(ctx.vote_w[:, final].min()), 1e-9) if np.isinf(best) else best


@register_router
class CascadeRouter(Router):
    """Cheap models first, a learned confidence estimator decides when to stop (see module doc).

    Prompts are grouped by task (tasks with at least ``min_group`` training prompts; new prompts
    join the group with the nearest centroid) and each group gets its own chain of models, since
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
        self.k = int(self.params.get("k", 15))  # chosen on a dev split inside the training part
        self.c = float(self.params.get("C", 0.5))
        self.verify = bool(self.params.get("verify_code", False))
        self.rule = str(self.params.get("rule", "gain"))
        self.vote = str(self.params.get("vote", "none"))  # "weighted": answer by a vote of all consulted
        if self.vote not in ("none", "weighted"):
            raise RoutingError([Problem("param vote", f"expected 'none' or 'weighted', got {self.vote!r}")])

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> CascadeRouter:
        self._settings()
        self.models = list(table.models)
        self.keys = emb.astype(np.float16).astype(np.float32)  # as saved
        self.key_scores = table.scores.astype(np.float32)
        prior = _knn_average(emb, emb, table.scores, self.k, exclude_self=True)
        ctx = _Context(table, prior, self.verify)
        tasks = np.array(table.tasks)
        min_group = int(self.params.get("min_group", 100))
        names = sorted(t for t in set(table.tasks) if (tasks == t).sum() >= min_group)
        if len(names) < 2:
            names = ["all"]
        groups = [np.nonzero(tasks == t)[0] if t != "all" else np.arange(table.n) for t in names]
        if len(names) > 1:  # rows of small tasks go to their nearest group
            cent = np.stack([emb[g].mean(0) for g in groups])
            self.centroids = cent / np.linalg.norm(cent, axis=1, keepdims=True)
            covered = np.zeros(table.n, bool)
            for g in groups:
                covered[g] = True
            nearest = self._group_of(emb)
            groups = [np.union1d(g, np.nonzero(~covered & (nearest == i))[0]) for i, g in enumerate(groups)]
        else:
            self.centroids = emb.mean(0, keepdims=True)
        self.group_names = names
        fixed = [self.models.index(m) for m in self.params.get("stages", [])]
        max_stages = int(self.params.get("max_stages", 3))
        mq = np.nanmean(table.scores, 0)
        self.strong = self.models[int(np.nanargmax(mq))]
        self.cost_unit = float(ctx.costs.mean()) or 1.0
        self.chains, self.option_q, self.option_c = [], [], []
        self.vote_weights = np.stack([log_odds_weights(ctx.scores[rows].mean(0)) for rows in groups])
        if self.vote == "weighted":  # out-of-sample weights for the training rows themselves
            ctx.vote_w = np.zeros_like(ctx.scores)
            for rows in groups:
                ctx.vote_w[rows] = log_odds_weights(leave_one_out_accuracy(ctx.scores[rows]))
        group_pts, unscorable = [], 0
        for g, rows in enumerate(groups):
            chain, pts = _fit_chain(ctx, rows, fixed, max_stages, self.c, self.rule)
            if self.vote == "weighted":
                factor = _final_say(_Context.subset(ctx, rows), chain.stages, chain.final)
                ctx.vote_w[rows, chain.final] *= factor
                self.vote_weights[g, chain.final] *= factor
                pts = _chain_points(_Context.subset(ctx, rows), chain.stages, chain.final, self.c, self.rule,
                                    None, None)
            pts = self._with_singles(pts, _Context.subset(ctx, rows))
            self.chains.append(chain)
            q, c, _ = pts.means()
            self.option_q.append(q)
            self.option_c.append(c)
            group_pts.append((rows, pts))
            unscorable += int(_final_quality(_Context.subset(ctx, rows), chain.stages, chain.final)[1].sum())
        self.oof_points = self._combine(group_pts, LAMBDA_GRID, table.n)  # for calibration
        # rows whose full vote was won by a response with no extractable answer (scored on its own)
        self.vote_unscorable = {"rows": table.n, "unscorable": unscorable} if self.vote == "weighted" else None
        return self

    def _with_singles(self, pts: OperatingPoints, ctx: _Context) -> OperatingPoints:
        """Append the options "always model j" to a chain's threshold options."""
        strong = self.models.index(self.strong)
        sq, sc = ctx.scores.T, ctx.costs.T
        ss = (np.arange(len(self.models)) == strong)[:, None] * np.ones_like(sq)
        return OperatingPoints(np.vstack([pts.quality, sq]), np.vstack([pts.cost, sc]), np.vstack([pts.strong, ss]))

    def _option(self, g: int, lam: float) -> int:
        q, c = self.option_q[g], self.option_c[g]
        if np.isinf(lam):
            return int(np.lexsort((-q, c))[0])
        return int(np.argmax(q - lam * c / self.cost_unit - 1e-12 * c))

    def _combine(self, group_pts: list[tuple[np.ndarray, OperatingPoints]], knobs: np.ndarray,
                 n: int) -> OperatingPoints:
        out = OperatingPoints(*(np.zeros((len(knobs), n)) for _ in range(3)))
        for g, (rows, pts) in enumerate(group_pts):
            pick = [self._option(g, lam) for lam in knobs]
            out.quality[:, rows], out.cost[:, rows] = pts.quality[pick], pts.cost[pick]
            out.strong[:, rows] = pts.strong[pick]
        return out

    def _group_of(self, emb: np.ndarray) -> np.ndarray:
        return np.argmax(emb @ self.centroids.T, axis=1)

    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        table = self._align(table)
        knobs = LAMBDA_GRID if knobs is None else knobs
        prior = _knn_average(emb.astype(np.float32), self.keys, self.key_scores, self.k)
        ctx = _Context(table, prior, self.verify)
        group = self._group_of(emb) if len(self.chains) > 1 else np.zeros(table.n, int)
        if self.vote == "weighted":
            ctx.vote_w = self.vote_weights[group]
        group_pts = []
        for g, chain in enumerate(self.chains):
            rows = np.nonzero(group == g)[0]
            sub = _Context.subset(ctx, rows)
            pts = _chain_points(sub, chain.stages, chain.final, self.c, self.rule, None, chain.estimators)
            group_pts.append((rows, self._with_singles(pts, sub)))
        return self._combine(group_pts, knobs, table.n)

    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        """Live: the first allowed stage of the prompt's chain; escalation is the caller's (cascade pattern)."""
        prior = _knn_average(emb[None, :].astype(np.float32), self.keys, self.key_scores, self.k)[0]
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

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"k": self.k, "C": self.c, "verify_code": self.verify, "rule": self.rule, "vote": self.vote,
                "vote_unscorable": self.vote_unscorable, "groups": self.group_names,
                "strong": self.strong, "cost_unit": self.cost_unit,
                "chains": [{"stages": ch.stages, "final": ch.final, "training_aiq": ch.training_aiq,
                            "models": [self.models[j] for j in ch.stages] + [self.models[ch.final]]}
                           for ch in self.chains]}
        arrays = {"keys": self.keys.astype(np.float16), "key_scores": self.key_scores, "centroids": self.centroids,
                  "option_quality": np.stack(self.option_q), "option_cost": np.stack(self.option_c),
                  "vote_weights": self.vote_weights}
        for g, ch in enumerate(self.chains):
            for s, e in enumerate(ch.estimators):
                arrays[f"group{g}_stage{s}"] = np.concatenate([[e.bias], e.coef, e.mean, e.std])
        return meta, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._settings()
        self.k, self.c, self.verify = int(meta["k"]), float(meta["C"]), bool(meta["verify_code"])
        self.rule, self.group_names = str(meta.get("rule", "confidence")), list(meta["groups"])
        self.vote, self.vote_unscorable = str(meta.get("vote", "none")), meta.get("vote_unscorable")
        self.vote_weights = arrays.get("vote_weights", np.ones((len(meta["chains"]), len(self.models))))
        self.keys, self.key_scores = arrays["keys"].astype(np.float32), arrays["key_scores"]
        self.centroids = arrays["centroids"]
        self.strong, self.cost_unit = meta["strong"], float(meta["cost_unit"])
        self.option_q, self.option_c = list(arrays["option_quality"]), list(arrays["option_cost"])
        self.chains = []
        for g, raw in enumerate(meta["chains"]):
            estimators = []
            for s in range(len(raw["stages"])):
                v = arrays[f"group{g}_stage{s}"]
                f = (len(v) - 1) // 3
                estimators.append(_Logistic(v[1 + f:1 + 2 * f], v[1 + 2 * f:], v[1:1 + f], float(v[0])))
            self.chains.append(_Chain([int(j) for j in raw["stages"]], int(raw["final"]), estimators,
                                      raw.get("training_aiq")))
