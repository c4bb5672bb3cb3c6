"""Weighted voting over the answers of every model a cascade consulted.

A cascade's final answer need not be the last consulted model's answer: when several models
have answered, a vote over their *extracted* final answers, each model weighted by the log-odds
of its accuracy on the prompt's task group, can be right more often than any one of them
(several good cheap models agreeing can outvote the strong model's rare slip).

Scoring a voted answer offline needs no new labels: the vote returns the response of one
model that gave the winning answer (the one the prior trusts most on this prompt), and that
response's recorded score is the vote's. (Scoring it "right if any model with this answer was
right" would be optimistic wherever equal extracted answers carry different scores: answers that
normalise alike, code that behaves alike on the harvested inputs.) A response with no
extractable answer (code, free text) forms a group of its own; such rows are counted as
*unscorable* by answer so the report can say how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Accuracies are clipped to this range before taking log-odds, so no model gets an infinite say.
_CLIP = (0.02, 0.98)
#: Floor of a weight: a model at or below chance still breaks ties, but never outvotes anyone.
_MIN_WEIGHT = 1e-3


def log_odds_weights(accuracy: np.ndarray) -> np.ndarray:
    """Vote weights from accuracies in [0, 1]: ``log(p / (1 - p))``, floored just above zero."""
    p = np.clip(np.nan_to_num(accuracy, nan=0.5), *_CLIP)
    return np.asarray(np.maximum(np.log(p / (1 - p)), _MIN_WEIGHT))


@dataclass
class Vote:
    """The outcome of one vote: the winning models, its share of the weight, its margin."""

    members: list[int]  # models (column indices) that gave the winning answer
    returned: int  # the member whose response is returned: the highest tiebreak (prior)
    answer: str | None  # the winning extracted answer; None when the winner had none
    share: float  # winning weight / total weight
    margin: float  # (winning weight - runner-up weight) / total weight
    n_answers: int  # distinct answers among the voters


def weighted_vote(answers: Sequence[str | None], voters: Sequence[int], weights: np.ndarray,
                  tiebreak: np.ndarray) -> Vote:
    """Vote among ``voters`` (column indices) on their extracted ``answers`` (indexed by column).

    Models without an extractable answer vote alone. Ties in weight go to the group holding the
    model with the highest ``tiebreak`` value (e.g. its prior accuracy on this prompt).
    """
    groups: dict[str, list[int]] = {}
    for j in voters:
        a = answers[j]
        groups.setdefault(a if a is not None else f"\0{j}", []).append(j)
    totals = {g: float(sum(weights[j] for j in members)) for g, members in groups.items()}
    ranked = sorted(groups, key=lambda g: (totals[g], max(tiebreak[j] for j in groups[g])), reverse=True)
    whole = sum(totals.values()) or 1e-9
    second = totals[ranked[1]] if len(ranked) > 1 else 0.0
    best = ranked[0]
    returned = max(groups[best], key=lambda j: tiebreak[j])
    return Vote(groups[best], returned, None if best.startswith("\0") else best, totals[best] / whole,
                (totals[best] - second) / whole, len(groups))


def vote_quality(vote: Vote, scores_row: np.ndarray) -> float:
    """Score of the voted answer: the recorded score of the response the vote returns."""
    return float(scores_row[vote.returned])
