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

from tierflow.routing.curves import OperatingPoints, aiq
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.features.answers import extract_answer

#: Only models costing at most this share of the strongest model's mean cost count as cheap.
CHEAP_SHARE = 0.25


@dataclass
class AgreementCascade:
    """Which cheap models are consulted (column indices) and which model answers disagreements."""

    cheap: tuple[int, ...]
    strong: int

    def points(self, table: OutcomeTable, agree: np.ndarray | None = None) -> OperatingPoints:
        """One operating point: per prompt, the quality returned and the cost of every model consulted
        (``agree``: the rows where the cheap models agree, when already known)."""
        scores = np.nan_to_num(table.scores, nan=0.0)
        costs = np.nan_to_num(table.costs, nan=0.0)
        agree = agreeing_rows(table, self.cheap) if agree is None else agree
        cheap_cost = costs[:, list(self.cheap)].sum(1)
        quality = np.where(agree, scores[:, self.cheap[0]], scores[:, self.strong])
        cost = np.where(agree, cheap_cost, cheap_cost + costs[:, self.strong])
        return OperatingPoints(quality[None, :], cost[None, :], (~agree).astype(float)[None, :])

    def mean_point(self, table: OutcomeTable, agree: np.ndarray) -> tuple[float, float]:
        """(mean quality, mean cost) of :meth:`points`."""
        q, c, _ = self.points(table, agree).means()
        return float(q[0]), float(c[0])


def agreeing_rows(table: OutcomeTable, models: tuple[int, ...]) -> np.ndarray:
    """Rows where every one of ``models`` gave the same extractable final answer."""
    answers = [[extract_answer(table.response(i, j)) for j in models] for i in range(table.n)]
    return _agree(answers, tuple(range(len(models))))


def _agree(answers: list[list[str | None]], models: tuple[int, ...]) -> np.ndarray:
    """Per row of extracted ``answers``, whether ``models`` (indices into a row) all gave the same one."""
    first = models[0]
    return np.array([row[first] is not None and all(row[j] == row[first] for j in models[1:]) for row in answers],
                    dtype=bool)


def _cheap_models(mq: np.ndarray, mc: np.ndarray, strong: int) -> list[int]:
    """The models costing at most :data:`CHEAP_SHARE` of the strongest model's mean cost."""
    return [j for j in range(len(mq)) if j != strong and mc[j] <= CHEAP_SHARE * mc[strong]]


def fit_agreement_cascade(train: OutcomeTable, size: int = 3) -> AgreementCascade | None:
    """The cheap ``size``-tuple with the best training AIQ; None without responses or cheap models."""
    if not train.has_responses:
        return None
    mq, mc = np.nanmean(train.scores, 0), np.nanmean(np.nan_to_num(train.costs, nan=np.inf), 0)
    strong = int(np.nanargmax(mq))
    cheap = _cheap_models(mq, mc, strong)
    if len(cheap) < size or not np.isfinite(mc).all():
        return None
    anchor = (float(mc.min()), float(mq[np.argmin(mc)]))  # every curve may send everything to the cheapest
    answers = [[extract_answer(train.response(i, j)) for j in range(len(train.models))] for i in range(train.n)]
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in itertools.combinations(cheap, size):
        plan = AgreementCascade(combo, strong)
        q, c = plan.mean_point(train, _agree(answers, combo))
        value = aiq(np.append(mc, c), np.append(mq, q), float(mc.max()), anchor)
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
