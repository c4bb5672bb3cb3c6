"""The plain agreement cascade: the simple baseline a cascade router has to beat.

Three cheap models answer every prompt; when their extracted final answers all agree, that
answer is returned, otherwise the strongest model answers. Every model consulted is charged
(the three cheap ones always, the strong one on disagreement). The three models are the
cheap triple whose cascade has the best AIQ on the *training* outcomes (nothing is tuned on
the evaluated rows). Like every other curve in the report, the baseline may also send every
prompt to one single model, so its curve is the single models' points plus the cascade's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tierflow.routing.answers import extract_answer
from tierflow.routing.metrics import OperatingPoints, Scale, aiq
from tierflow.routing.outcomes import OutcomeTable

#: Only models costing at most this share of the strongest model's mean cost count as cheap.
CHEAP_SHARE = 0.25


@dataclass
class AgreementCascade:
    """Which cheap models are consulted (column indices) and which model answers disagreements."""

    cheap: tuple[int, ...]
    strong: int

    def points(self, table: OutcomeTable) -> OperatingPoints:
        """One operating point: per prompt, the quality returned and the cost of every model consulted."""
        scores = np.nan_to_num(table.scores, nan=0.0)
        costs = np.nan_to_num(table.costs, nan=0.0)
        agree = agreeing_rows(table, self.cheap)
        cheap_cost = costs[:, list(self.cheap)].sum(1)
        quality = np.where(agree, scores[:, self.cheap[0]], scores[:, self.strong])
        cost = np.where(agree, cheap_cost, cheap_cost + costs[:, self.strong])
        return OperatingPoints(quality[None, :], cost[None, :], (~agree).astype(float)[None, :])


def agreeing_rows(table: OutcomeTable, models: tuple[int, ...]) -> np.ndarray:
    """Rows where every one of ``models`` gave the same extractable final answer."""
    out = np.zeros(table.n, dtype=bool)
    for i in range(table.n):
        answers = [extract_answer(table.response(i, j)) for j in models]
        out[i] = answers[0] is not None and all(a == answers[0] for a in answers[1:])
    return out


def fit_agreement_cascade(train: OutcomeTable, size: int = 3) -> AgreementCascade | None:
    """The cheap ``size``-tuple with the best training AIQ; None without responses or cheap models."""
    if not train.has_responses:
        return None
    mq, mc = np.nanmean(train.scores, 0), np.nanmean(np.nan_to_num(train.costs, nan=np.inf), 0)
    strong = int(np.nanargmax(mq))
    cheap = [j for j in range(len(train.models)) if j != strong and mc[j] <= CHEAP_SHARE * mc[strong]]
    if len(cheap) < size or not np.isfinite(mc).all():
        return None
    scale = Scale(c_lo=float(mc.min()), c_hi=float(mc.max()), best_quality=float(mq[strong]),
                  best_cost=float(mc[strong]), cheapest_quality=float(mq[np.argmin(mc)]))
    answers = [[extract_answer(train.response(i, j)) for j in range(len(train.models))] for i in range(train.n)]
    scores, costs = np.nan_to_num(train.scores, nan=0.0), train.costs
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.combinations(cheap, size):
        agree = np.array([row[combo[0]] is not None and all(row[j] == row[combo[0]] for j in combo[1:])
                          for row in answers])
        cheap_cost = costs[:, list(combo)].sum(1)
        q = np.where(agree, scores[:, combo[0]], scores[:, strong]).mean()
        c = np.where(agree, cheap_cost, cheap_cost + costs[:, strong]).mean()
        value = aiq(np.append(mc, c), np.append(mq, q), scale.c_lo, scale.c_hi, scale.cheapest_quality)
        if best is None or value > best[0] + 1e-12:
            best = (value, combo)
    assert best is not None
    return AgreementCascade(best[1], strong)


def agreement_curve(train: OutcomeTable, test: OutcomeTable, strong_col: int
                    ) -> tuple[OperatingPoints, list[str]] | None:
    """The baseline's curve on ``test`` (single models plus the cascade), and its model names."""
    plan = fit_agreement_cascade(train)
    if plan is None:
        return None
    m = len(test.models)
    scores, costs = np.nan_to_num(test.scores, nan=0.0), np.nan_to_num(test.costs, nan=0.0)
    singles = OperatingPoints(scores.T.copy(), costs.T.copy(),
                              np.repeat((np.arange(m) == strong_col).astype(float)[:, None], test.n, axis=1))
    casc = plan.points(test)
    curve = OperatingPoints(np.vstack([singles.quality, casc.quality]), np.vstack([singles.cost, casc.cost]),
                            np.vstack([singles.strong, casc.strong]))
    names = [train.models[j] for j in plan.cheap] + [train.models[plan.strong]]
    return curve, names
