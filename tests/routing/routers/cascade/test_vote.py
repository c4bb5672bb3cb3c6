"""Weighted votes over consulted models, and the cascade that answers with them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import load_router, save_router
from tierflow.routing.routers.cascade import AUTO_VOTE_MARGIN, THRESHOLDS
from tierflow.routing.routers.cascade.vote import log_odds_weights, vote_quality, weighted_vote


def test_log_odds_weights_favour_accurate_models_and_silence_chance():
    w = log_odds_weights(np.array([0.8, 0.7, 0.5, 0.3, 1.0]))
    assert w[0] == pytest.approx(np.log(4))
    assert w[1] == pytest.approx(np.log(7 / 3))
    assert w[2] == w[3] == pytest.approx(1e-3)  # at or below chance: ties only
    assert np.isfinite(w[4])


def test_two_agreeing_models_outvote_a_stronger_one():
    answers = ["A", "A", "C", "B"]
    w = np.array([0.85, 0.85, 0.001, 1.39])
    v = weighted_vote(answers, [0, 1, 2, 3], w, tiebreak=np.array([0.2, 0.6, 0.9, 0.9]))
    assert v.answer == "A" and v.members == [0, 1] and v.returned == 1  # the member the prior trusts most
    assert v.share == pytest.approx(1.7 / w.sum())
    assert v.margin == pytest.approx((1.7 - 1.39) / w.sum())
    assert v.n_answers == 3
    # scored by the returned response's own score, even where another member with the same answer differs
    assert vote_quality(v, np.array([1.0, 1.0, 0.0, 0.0])) == 1.0
    assert vote_quality(v, np.array([1.0, 0.0, 0.0, 1.0])) == 0.0
    assert vote_quality(v, np.array([0.0, 0.0, 0.0, 1.0])) == 0.0


def test_responses_without_an_answer_vote_alone_and_keep_their_own_score():
    v = weighted_vote([None, None, "7"], [0, 1, 2], np.array([2.0, 2.0, 1.0]), tiebreak=np.array([0.9, 0.1, 0.5]))
    assert v.answer is None and v.members == [0]  # the two code answers are not pooled; tie -> prior
    assert vote_quality(v, np.array([0.0, 1.0, 1.0])) == 0.0


def vote_table(n: int = 300, seed: int = 0) -> OutcomeTable:
    """Four kinds of row, in fixed proportions (every 20 rows), so the accuracies are exact:

    - 8 easy: everyone right;
    - 5 slips: cheap1 = cheap2 = truth, cheap3 and strong give two different wrong answers;
    - 4 hard: the three cheap models give three different wrong answers, strong is right;
    - 3 traps: cheap1 = cheap2 = a wrong answer, cheap3 = strong = truth.

    Accuracies: cheap1 and cheap2 0.65, cheap3 0.55, strong 0.75. Slips and traps look alike to
    the cheap models (the first two agree, the third differs), so no cascade that sees only them
    tells the two apart; the strong model's answer does. By log-odds (0.62 + 0.62 > 1.10 on slips,
    1.10 + 0.20 > 0.62 + 0.62 on traps) the vote of all four is right on every row.
    """
    rng = np.random.default_rng(seed)
    pattern = ["easy"] * 8 + ["slip"] * 5 + ["hard"] * 4 + ["trap"] * 3
    prompts, responses, scores = [], [], []
    for i in range(n):
        truth = "ABCD"[rng.integers(4)]
        w1, w2, w3 = [c for c in "ABCD" if c != truth]
        kind = pattern[i % len(pattern)]
        row = {"easy": [truth] * 4, "slip": [truth, truth, w1, w2], "hard": [w1, w2, w3, truth],
               "trap": [w1, w1, truth, truth]}[kind]
        prompts.append(f"question {i} about topic {rng.integers(50)}? Options A B C D")
        responses.append(row)
        scores.append([float(a == truth) for a in row])
    costs = np.tile([1e-4, 2e-4, 3e-4, 5e-3], (n, 1))
    return OutcomeTable([f"v{i}" for i in range(n)], prompts, ["mcq"] * n, ["cheap1", "cheap2", "cheap3", "strong"],
                        np.array(scores), costs, responses)


def test_voted_escalation_beats_the_strong_model_exactly():
    train, test = vote_table(300, seed=1), vote_table(200, seed=2)
    params = {"stages": ["cheap1", "cheap2", "cheap3"]}
    plain = fit_router(train, "cascade", embedder="hashing", params={**params, "vote": "none"})
    voted = fit_router(train, "cascade", embedder="hashing", params={**params, "vote": "weighted"})
    auto = fit_router(train, "cascade", embedder="hashing", params=params)  # the default: chosen out of fold
    oof = auto.vote_choice["out_of_fold"]
    assert auto.vote == "weighted"
    assert oof["weighted"]["max_quality"] > oof["none"]["max_quality"] + AUTO_VOTE_MARGIN
    assert auto.option_q[0][len(THRESHOLDS) - 1] == pytest.approx(1.0)
    everything = len(THRESHOLDS) - 1  # threshold above 1: every model consulted on every row
    assert plain.option_q[0][everything] == pytest.approx(train.scores[:, 3].mean())
    assert voted.option_q[0][everything] == pytest.approx(1.0)
    assert voted.vote_unscorable == {"rows": train.n, "unscorable": 0}
    emb = embed_prompts(voted, test.prompts)
    q, _, _ = voted.points(test, emb, np.array([0.0])).means()
    assert q[0] == pytest.approx(1.0)


def test_voting_router_round_trips_and_rejects_unknown_modes(tmp_path):
    shots = "Solved example: question 0? Options A B C D\nAnswer: A\n\n" * 10
    train = vote_table(300, seed=1)
    train = replace(train, prompts=[shots + p for p in train.prompts])
    router = fit_router(train, "cascade", embedder="hashing")  # vote=auto picks "weighted" here
    assert router.prefixes == [shots]  # choosing the answer mode keeps what was learned before fitting
    back = load_router(save_router(router, tmp_path / "v.json"))
    assert back.vote == "weighted" and back.vote_choice == router.vote_choice is not None
    assert back.prefixes == [shots]
    emb = embed_prompts(back, train.prompts)
    np.testing.assert_allclose(back.points(train, emb).quality, router.points(train, emb).quality)
    with pytest.raises(RoutingError, match="vote"):
        fit_router(train, "cascade", embedder="hashing", params={"vote": "majority"})


def correlated_table(n: int = 300, seed: int = 0) -> OutcomeTable:
    """Two cheap models that share their mistakes: on 30% of rows both give the same wrong answer
    against a right strong model, on 20% both are right and the strong model slips. By log-odds
    they outvote it (0.85 + 0.85 > 1.39), which is right less often than the strong model alone.
    """
    rng = np.random.default_rng(seed)
    prompts, responses, scores = [], [], []
    for i in range(n):
        truth = "ABCD"[rng.integers(4)]
        w1, w2, _ = [c for c in "ABCD" if c != truth]
        kind = ("easy", "shared", "slip")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        row = {"easy": [truth] * 3, "shared": [w1, w1, truth], "slip": [truth, truth, w2]}[kind]
        prompts.append(f"question {i} about topic {rng.integers(50)}? Options A B C D")
        responses.append(row)
        scores.append([float(a == truth) for a in row])
    return OutcomeTable([f"c{i}" for i in range(n)], prompts, ["mcq"] * n, ["cheap1", "cheap2", "strong"],
                        np.array(scores), np.tile([1e-4, 2e-4, 5e-3], (n, 1)), responses)


def test_shared_mistakes_give_the_final_model_the_last_word():
    train = correlated_table(300, seed=4)
    router = fit_router(train, "cascade", embedder="hashing",
                        params={"stages": ["cheap1", "cheap2"], "vote": "weighted"})
    everything = len(THRESHOLDS) - 1
    # the naive vote would score 0.5 + 0.2 = 0.7; the learned weight of the final model keeps 0.8
    assert router.option_q[0][everything] == pytest.approx(train.scores[:, 2].mean())
    w = router.vote_weights[0]
    assert w[2] > w[0] + w[1]
