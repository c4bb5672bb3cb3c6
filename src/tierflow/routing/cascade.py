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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tierflow.routing.answers import CodeVerifier, extract_answer, extract_code, response_features
from tierflow.routing.evaluate import OperatingPoints, Scale, aiq
from tierflow.routing.outcomes import OutcomeTable
from tierflow.routing.routers import Decision, Router, _fill_costs, _knn_average, prompt_features, register_router

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
    """Features after consulting ``stages`` and the model whose answer is the candidate, per row."""
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
        rows.append(np.concatenate([base, agree, ctx.prompt_feats[i], ctx.response_feats(i, cand)]))
        cands.append(cand)
    return np.array(rows), np.array(cands)


class _Logistic:
    """Standardised logistic regression, stored as plain arrays."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, coef: np.ndarray, bias: float) -> None:
        self.mean, self.std, self.coef, self.bias = mean, std, coef, bias

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float) -> "_Logistic":
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


@register_router
class CascadeRouter(Router):
    """Cheap models first, a learned confidence estimator decides when to stop (see module doc)."""

    kind = "cascade"
    knob_name = "threshold"

    def knob_grid(self) -> np.ndarray:
        return THRESHOLDS

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> "CascadeRouter":
        self.models = list(table.models)
        self.k = int(self.params.get("k", 25))
        self.c = float(self.params.get("C", 0.5))
        self.verify = bool(self.params.get("verify_code", False))
        self.rule = str(self.params.get("rule", "confidence"))
        max_stages = int(self.params.get("max_stages", 3))
        costs = _fill_costs(table)
        mq, mc = np.nanmean(table.scores, 0), costs.mean(0)
        self.final = int(np.lexsort((mc, -mq))[0])
        self.strong = self.models[self.final]
        prior = _knn_average(emb, emb, table.scores, self.k, exclude_self=True)
        ctx = _Context(table, prior, self.verify)
        scale = Scale(c_lo=float(mc.min()), c_hi=float(mc.max()), best_quality=float(mq[self.final]),
                      best_cost=float(mc[self.final]), cheapest_quality=float(mq[np.argmin(mc)]))
        candidates = [j for j in np.argsort(mc) if j != self.final and mc[j] < mc[self.final]]
        self.stages: list[int] = [self.models.index(m) for m in self.params.get("stages", [])]
        feats: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        best_score = -np.inf
        while len(self.stages) < max_stages:
            trial_best: tuple[float, int] | None = None
            for j in candidates:
                if j in self.stages:
                    continue
                stages = self.stages + [int(j)]
                pts = self._training_points(ctx, stages, feats)
                q, cst, _ = pts.means()
                value = aiq(cst, q, scale.c_lo, scale.c_hi, scale.cheapest_quality)
                if trial_best is None or value > trial_best[0]:
                    trial_best = (value, int(j))
            if trial_best is None or trial_best[0] <= best_score + 1e-3:
                break
            best_score = trial_best[0]
            self.stages.append(trial_best[1])
        if not self.stages:  # nothing cheaper than the final model: a one-stage cascade on it
            self.stages = [self.final]
        self.oof_points = self._training_points(ctx, self.stages, feats)  # for calibration
        self.estimators = []
        for s in range(len(self.stages)):
            x, cand = feats.get(tuple(self.stages[:s + 1])) or _stage_features(ctx, self.stages[:s + 1], self.final)
            self.estimators.append(_Logistic.fit(x, ctx.scores[np.arange(table.n), cand], self.c))
        self.keys = emb.astype(np.float16).astype(np.float32)  # as saved
        self.key_scores = table.scores.astype(np.float32)
        self.training_aiq = best_score
        return self

    def _accept_score(self, p: np.ndarray, ctx: _Context) -> np.ndarray:
        """What the threshold is compared with: P(candidate right), or under the ``gain`` rule
        0.5 + (P(candidate right) - P(final model right)) / 2, so hard prompts escalate sooner."""
        if self.rule == "gain":
            return np.clip(0.5 + (p - ctx.prior[:, self.final]) / 2, 0.0, 1.0)
        return p

    def _training_points(self, ctx: _Context, stages: list[int],
                         cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]]) -> OperatingPoints:
        probs, qual, cum = [], [], []
        n = ctx.table.n
        total = np.zeros(n)
        for s in range(len(stages)):
            key = tuple(stages[:s + 1])
            if key not in cache:
                cache[key] = _stage_features(ctx, list(key), self.final)
            x, cand = cache[key]
            y = ctx.scores[np.arange(n), cand]
            probs.append(self._accept_score(_oof(x, y, self.c), ctx))
            qual.append(y)
            total = total + ctx.costs[:, stages[s]]
            cum.append(total.copy())
        return _simulate(np.array(probs), np.array(qual), np.array(cum), ctx.scores[:, self.final],
                         ctx.costs[:, self.final], THRESHOLDS)

    def points(self, table: OutcomeTable, emb: np.ndarray, knobs: np.ndarray | None = None) -> OperatingPoints:
        table = self._align(table)
        prior = _knn_average(emb.astype(np.float32), self.keys, self.key_scores, self.k)
        ctx = _Context(table, prior, self.verify)
        probs, qual, cum = [], [], []
        total = np.zeros(table.n)
        for s, est in enumerate(self.estimators):
            x, cand = _stage_features(ctx, self.stages[:s + 1], self.final)
            probs.append(self._accept_score(est.predict(x), ctx))
            qual.append(ctx.scores[np.arange(table.n), cand])
            total = total + ctx.costs[:, self.stages[s]]
            cum.append(total.copy())
        return _simulate(np.array(probs), np.array(qual), np.array(cum), ctx.scores[:, self.final],
                         ctx.costs[:, self.final], THRESHOLDS if knobs is None else knobs)

    def choose(self, emb: np.ndarray, task: str | None = None, knob: float | None = None,
               allowed: Sequence[int] | None = None, text: str | None = None) -> Decision:
        """Live: the cascade's first allowed stage now; escalation is the caller's (cascade pattern)."""
        prior = _knn_average(emb[None, :].astype(np.float32), self.keys, self.key_scores, self.k)[0]
        ok = [j for j in self.stages if allowed is None or j in allowed] or [self.final]
        first = ok[0]
        return Decision(chosen_model=self.models[first], predicted_quality=float(prior[first]),
                        predicted_cost=float(self.calibration.get("expected_cost", float("nan"))),
                        runner_up_model=self.models[self.final], runner_up_quality=float(prior[self.final]),
                        details={"cascade": [self.models[j] for j in self.stages] + [self.models[self.final]],
                                 "threshold": self.knob if knob is None else knob})

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {"k": self.k, "C": self.c, "verify_code": self.verify, "rule": self.rule, "stages": self.stages, "final": self.final,
                "training_aiq": float(self.training_aiq) if self.training_aiq is not None and np.isfinite(self.training_aiq) else None}
        arrays = {"keys": self.keys.astype(np.float16), "key_scores": self.key_scores}
        for s, e in enumerate(self.estimators):
            arrays[f"stage{s}"] = np.concatenate([[e.bias], e.coef, e.mean, e.std])
        return meta, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.k, self.c, self.verify = int(meta["k"]), float(meta["C"]), bool(meta["verify_code"])
        self.rule = str(meta.get("rule", "confidence"))
        self.stages, self.final = [int(s) for s in meta["stages"]], int(meta["final"])
        self.training_aiq = meta.get("training_aiq")
        self.keys, self.key_scores = arrays["keys"].astype(np.float32), arrays["key_scores"]
        self.estimators = []
        for s in range(len(self.stages)):
            v = arrays[f"stage{s}"]
            f = (len(v) - 1) // 3
            self.estimators.append(_Logistic(v[1 + f:1 + 2 * f], v[1 + 2 * f:], v[1:1 + f], float(v[0])))
