"""One cascade chain: fit its stages and confidence estimators, simulate it over thresholds, step it live.

Private to :mod:`tierflow.routing.routers.cascade.router`; the router there groups prompts and picks options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tierflow.routing.curves import OperatingPoints, range_aiq
from tierflow.routing.routers.base import Step, answered
from tierflow.routing.routers.cascade.features import (
    Context,
    escalation_answer,
    final_quality,
    stage_features,
    stage_rows,
)

StageCache = dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]
"""Stage prefix -> its (features, labels): computed once per fit, shared by the greedy search and the chain."""

_FOLDS = 5


class Logistic:
    """Standardised logistic regression, stored as plain arrays."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, coef: np.ndarray, bias: float) -> None:
        self.mean, self.std, self.coef, self.bias = mean, std, coef, bias

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float) -> Logistic:
        from sklearn.linear_model import LogisticRegression

        mean, std = x.mean(0), x.std(0) + 1e-6
        yb = y >= 0.5
        if yb.all() or not yb.any():
            return cls(mean, std, np.zeros(x.shape[1]), 8.0 if yb.all() else -8.0)
        lr = LogisticRegression(C=c, max_iter=1000).fit((x - mean) / std, yb)
        return cls(mean, std, lr.coef_[0], float(lr.intercept_[0]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(((x - self.mean) / self.std) @ self.coef + self.bias))))


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    """Out-of-fold probabilities (deterministic interleaved folds)."""
    out = np.zeros(len(y))
    fold = np.arange(len(y)) % _FOLDS
    for f in range(_FOLDS):
        test = fold == f
        out[test] = Logistic.fit(x[~test], y[~test], c).predict(x[test])
    return out


def simulate(probs: np.ndarray, qual: np.ndarray, cum_cost: np.ndarray, final_q: np.ndarray,
              final_c: np.ndarray, thresholds: np.ndarray) -> tuple[OperatingPoints, np.ndarray]:
    """Operating points of the cascade for each threshold, and how many rows each stage accepts at each
    threshold (thresholds x stages)."""
    s, n = probs.shape
    q, c, strong = np.zeros((len(thresholds), n)), np.zeros((len(thresholds), n)), np.zeros((len(thresholds), n))
    accepted = np.zeros((len(thresholds), s), int)
    cols = np.arange(n)
    for t, tau in enumerate(thresholds):
        ok = probs >= tau
        first = np.where(ok.any(0), ok.argmax(0), s)
        escalate = first == s
        stop = np.minimum(first, s - 1)
        q[t] = np.where(escalate, final_q, qual[stop, cols])
        c[t] = np.where(escalate, cum_cost[-1] + final_c, cum_cost[stop, cols])
        strong[t] = escalate
        accepted[t] = np.bincount(first, minlength=s + 1)[:s]
    return OperatingPoints(q, c, strong), accepted


THRESHOLDS = np.concatenate([np.linspace(0.0, 1.0, 101), [1.01]])

#: The fewest training prompts a stage may accept at a threshold that is an option (none is fine).
MIN_ACCEPT = 10


def supported(accepted: np.ndarray, min_accept: int) -> np.ndarray:
    """Per threshold, whether every stage accepts no training prompt or at least ``min_accept`` of them.

    Scores that carry no signal still spread, and the few prompts at the top of that spread are
    sometimes all right by chance; a threshold just below them looks free on the training prompts
    (same quality, a little cheaper) and accepts wrong answers on new ones. A threshold must not owe
    its training outcome to a handful of prompts (docs/routing.md, "Cascade thresholds").
    """
    return np.asarray(((accepted == 0) | (accepted >= min_accept)).all(1))


def middle_of_plateau(q: np.ndarray, c: np.ndarray, ok: np.ndarray, best: int) -> int:
    """The threshold option to use for the chosen option ``best``: the middle of the run of
    neighbouring supported thresholds with the same training quality and cost.

    Those thresholds accept the same training prompts at the same stages; the middle one keeps the
    widest margin to the scores on either side, where the run's lowest member sits right at the edge
    of the scores it accepts. A run that reaches either end of the grid keeps that end (accept at the
    first stage, or never accept early), whose margin is unbounded.
    """
    if best >= len(THRESHOLDS):
        return best

    def same(j: int) -> bool:
        return bool(ok[j]) and q[j] == q[best] and c[j] == c[best]

    lo = hi = best
    while lo > 0 and same(lo - 1):
        lo -= 1
    while hi < len(THRESHOLDS) - 1 and same(hi + 1):
        hi += 1
    if lo == 0 or hi == len(THRESHOLDS) - 1:
        return lo if lo == 0 else hi
    return (lo + hi) // 2


@dataclass
class Chain:
    """The cascade of one group of prompts: its stages, its final model, one estimator per stage."""

    stages: list[int]
    final: int
    estimators: list[Logistic]
    training_aiq: float | None = None


def _greedy_stages(sub: Context, final: int, max_stages: int, c: float, rule: str, cache: StageCache
                   ) -> tuple[list[int], float]:
    """Stages added one at a time, cheapest-first candidates, each the one that most raises the chain's
    out-of-fold AIQ (over the models' cost range), while it gains more than 1e-3; and that AIQ."""
    mq, mc = sub.scores.mean(0), sub.costs.mean(0)
    scale = (float(mc.min()), float(mc.max()), float(mq[np.argmin(mc)]))
    candidates = [int(j) for j in np.argsort(mc) if j != final and mc[j] < mc[final]]
    stages: list[int] = []
    best = -np.inf
    while len(stages) < max_stages:
        trials = []
        for j in (j for j in candidates if j not in stages):
            q, cost, _ = chain_points(sub, stages + [j], final, c, rule, cache, None).means()
            trials.append((range_aiq(cost, q, *scale), j))
        if not trials or max(trials)[0] <= best + 1e-3:
            break
        best, j = max(trials)
        stages.append(j)
    return stages, best


def fit_chain(ctx: Context, rows: np.ndarray, fixed: list[int], max_stages: int, c: float, rule: str
              ) -> tuple[Chain, OperatingPoints, np.ndarray]:
    """Greedily pick the stages that most raise the out-of-fold AIQ of ``rows`` (or take ``fixed`` ones);
    fit the estimators. Returns the chain, its out-of-fold points and per threshold the rows each
    stage accepts (see :func:`simulate`)."""
    sub = Context.subset(ctx, rows)
    mq, mc = sub.scores.mean(0), sub.costs.mean(0)
    final = int(np.lexsort((mc, -mq))[0])
    cache: StageCache = {}
    stages, best = (list(fixed), -np.inf) if fixed else _greedy_stages(sub, final, max_stages, c, rule, cache)
    stages = stages or [final]  # nothing cheaper than the final model
    oof, accepted = chain_run(sub, stages, final, c, rule, cache, None)
    estimators = [Logistic.fit(*(cache.get(tuple(stages[:s + 1])) or stage_features(sub, stages[:s + 1], final)), c)
                  for s in range(len(stages))]
    return Chain(stages, final, estimators, best if np.isfinite(best) else None), oof, accepted


def accept_score(p: np.ndarray, ctx: Context, final: int, rule: str) -> np.ndarray:
    """What the threshold is compared with: P(candidate right), or under the ``gain`` rule
    0.5 + (P(candidate right) - P(final model right)) / 2, so hard prompts escalate sooner."""
    if rule == "gain":
        return np.asarray(np.clip(0.5 + (p - ctx.prior[:, final]) / 2, 0.0, 1.0))
    return p


def chain_points(ctx: Context, stages: list[int], final: int, c: float, rule: str,
                  cache: StageCache | None, estimators: list[Logistic] | None,
                  thresholds: np.ndarray = THRESHOLDS) -> OperatingPoints:
    """Operating points of one chain: out-of-fold when ``estimators`` is None, else with them."""
    return chain_run(ctx, stages, final, c, rule, cache, estimators, thresholds)[0]


def chain_run(ctx: Context, stages: list[int], final: int, c: float, rule: str,
              cache: StageCache | None, estimators: list[Logistic] | None,
              thresholds: np.ndarray = THRESHOLDS) -> tuple[OperatingPoints, np.ndarray]:
    """:func:`chain_points`, and per threshold how many rows each stage accepts."""
    probs, qual, cum = [], [], []
    n = ctx.table.n
    total = np.zeros(n)
    for s in range(len(stages)):
        key = tuple(stages[:s + 1])
        if cache is not None and key in cache:
            x, y = cache[key]
        else:
            x, y = stage_features(ctx, list(key), final)
            if cache is not None:
                cache[key] = (x, y)
        p = out_of_fold_probabilities(x, y, c) if estimators is None else estimators[s].predict(x)
        probs.append(accept_score(p, ctx, final, rule))
        qual.append(y)
        total = total + ctx.costs[:, stages[s]]
        cum.append(total.copy())
    final_q, _ = final_quality(ctx, stages, final)
    return simulate(np.array(probs), np.array(qual), np.array(cum), final_q, ctx.costs[:, final], thresholds)


#: Multipliers of the final model's vote weight tried on the training rows (inf: it always wins).
FINAL_SAY = (1.0, 1.5, 2.0, 3.0, np.inf)


def final_say(ctx: Context, stages: list[int], final: int) -> float:
    """The multiplier of the final model's vote weight with the best training quality on escalation.

    Log-odds weights assume independent errors; real models share theirs, so cheap models
    agreeing against the strong one are right less often than the weights say. Ties go to the
    larger multiplier (closer to "the final model decides").
    """
    assert ctx.vote_w is not None
    best, best_q = np.inf, -1.0
    for factor in sorted(FINAL_SAY, reverse=True):
        sub = Context.subset(ctx, np.arange(ctx.table.n))
        sub.vote_w = ctx.vote_w.copy()
        sub.vote_w[:, final] = 1e6 if np.isinf(factor) else sub.vote_w[:, final] * factor
        q = float(final_quality(sub, stages, final)[0].mean())
        if q > best_q + 1e-9:
            best, best_q = factor, q
    return 1e6 / max(float(ctx.vote_w[:, final].min()), 1e-9) if np.isinf(best) else best


def single_model_step(j: int, final: int, responses: Mapping[int, str | None]) -> Step:
    """Where the knob picks model ``j`` for the prompt's group: consult it and answer with it (the final
    model when its call failed)."""
    if responses.get(j, "") is None and final not in responses:
        return Step("consult", final)
    return answered(Step("answer" if j in responses else "consult", j), responses, [final])


def chain_step(ctx: Context, chain: Chain, tau: float, rule: str, responses: Mapping[int, str | None]) -> Step:
    """The next step of ``chain`` at threshold ``tau`` for the live prompt of ``ctx``."""
    score = None
    for s, j in enumerate(chain.stages):
        if j not in responses:
            return Step("consult", j, score, tau, s)
        x, _, cands = stage_rows(ctx, chain.stages[:s + 1], chain.final)
        score = float(accept_score(chain.estimators[s].predict(x), ctx, chain.final, rule)[0])
        if score >= tau and responses[cands[0]] is not None:
            return Step("answer", cands[0], score, tau, s + 1)
    if chain.final not in responses:
        return Step("consult", chain.final, score, tau, len(chain.stages))
    step = Step("answer", escalation_answer(ctx, chain.stages, chain.final)[0], score, tau, len(chain.stages) + 1)
    return answered(step, responses, [chain.final, *reversed(chain.stages)])
