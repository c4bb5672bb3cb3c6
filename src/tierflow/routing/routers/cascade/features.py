"""The cascade's view of a table of recorded outcomes, and the features of a set of consulted stages.

After consulting some cheap models, the cascade forms a candidate answer (plurality by extracted
answer, or the weighted vote) and describes it with task-agnostic features (agreement, kNN prior,
the candidate response itself) for the confidence estimator. Private to
:mod:`tierflow.routing.routers.cascade.router`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.features.answers import (
    CodeVerifier,
    extract_answer,
    extract_code,
    response_features,
)
from tierflow.routing.features.code_behaviour import CodeRuns
from tierflow.routing.features.prompts import prompt_features
from tierflow.routing.routers.base import fill_costs
from tierflow.routing.routers.cascade.vote import Vote, vote_quality, weighted_vote


def _code_and_recorded(resp: list[list[str | None]], m: int) -> tuple[np.ndarray, np.ndarray]:
    """(which responses are code, which were recorded), each (n, m)."""
    is_code = [[extract_code(r) is not None for r in row] for row in resp]
    has = [[r is not None for r in row] for row in resp]
    return np.array(is_code, dtype=bool).reshape(-1, m), np.array(has, dtype=bool).reshape(-1, m)


class Context:
    """Everything the stage features need about a table: priors, answers, verdicts, costs."""

    def __init__(self, table: OutcomeTable, prior: np.ndarray, verify: bool) -> None:
        self.table, self.prior = table, prior
        self.scores = np.nan_to_num(table.scores, nan=0.0)
        self.costs = fill_costs(table)
        m = len(table.models)
        resp = table.responses or [[None] * m for _ in range(table.n)]
        self.answers = [[extract_answer(r) for r in row] for row in resp]
        verifier = CodeVerifier() if verify else None
        self._resp_feats: dict[tuple[int, int], np.ndarray] = {}
        self._verifier = verifier
        self._resp = resp
        self.prompt_feats = np.array([prompt_features(p) for p in table.prompts])
        self.vote_w: np.ndarray | None = None  # (n, m) vote weights when answers are voted on
        self._is_code, self._has = _code_and_recorded(resp, m)  # see code_rows
        self._behaviour: dict[tuple[int, tuple[int, ...]], list[str | None]] = {}
        self._runs: dict[int, CodeRuns] = {}  # per row (by its response list's id)

    @staticmethod
    def subset(ctx: Context, rows: np.ndarray) -> Context:
        """A view of ``ctx`` restricted to ``rows`` (shares the verifier; recomputes nothing heavy)."""
        sub = object.__new__(Context)
        sub.table, sub.prior = ctx.table.subset(rows), ctx.prior[rows]
        sub.scores, sub.costs = ctx.scores[rows], ctx.costs[rows]
        sub.answers = [ctx.answers[i] for i in rows]
        sub._verifier, sub._resp = ctx._verifier, [ctx._resp[i] for i in rows]
        sub.prompt_feats = ctx.prompt_feats[rows]
        sub._resp_feats = {}
        sub.vote_w = None if ctx.vote_w is None else ctx.vote_w[rows]
        sub._is_code, sub._has = ctx._is_code[rows], ctx._has[rows]
        sub._behaviour, sub._runs = ctx._behaviour, ctx._runs
        return sub

    def code_rows(self, stages: list[int], rows: int | slice = slice(None)) -> np.ndarray:
        """Whether most of the ``stages``' responses are code, per row (of ``rows``): there agreement
        is by behaviour. Read from the consulted responses only, as a live cascade must."""
        code = 2 * self._is_code[rows][..., stages].sum(-1)
        return np.asarray(code >= np.maximum(1, self._has[rows][..., stages].sum(-1)))

    def answers_for(self, i: int, stages: list[int]) -> list[str | None]:
        """Row ``i``'s comparable answers once ``stages`` were consulted (a full-length row).

        Code rows compare by behaviour on test inputs harvested from the consulted responses
        only, so nothing an unconsulted model wrote is used.
        """
        if len(stages) < 2 or not self.code_rows(stages, i):
            return self.answers[i]
        return self._behaviour[(id(self._resp[i]), tuple(sorted(stages)))]

    def prefetch(self, stages: list[int]) -> None:
        """Compute the behaviour keys of ``stages`` for every code row (each row's responses run
        once, in parallel subprocesses, for every set of stages; see ``CodeRuns``)."""
        if len(stages) < 2:
            return
        group = tuple(sorted(stages))
        todo = [int(i) for i in np.nonzero(self.code_rows(list(group)))[0]
                if (id(self._resp[i]), group) not in self._behaviour]
        self._run_code([i for i in todo if id(self._resp[i]) not in self._runs])
        for i in todo:
            row: list[str | None] = [None] * len(self._resp[i])
            for j, k in zip(group, self._runs[id(self._resp[i])].keys(group)):
                row[j] = k
            self._behaviour[(id(self._resp[i]), group)] = row

    def _run_code(self, rows: list[int]) -> None:
        """Run the code responses of ``rows`` on their harvested inputs, in parallel (see ``CodeRuns``)."""
        if not rows:
            return
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            for i, runs in zip(rows, pool.map(lambda i: CodeRuns(self.table.prompts[i], self._resp[i]), rows)):
                self._runs[id(self._resp[i])] = runs

    def response_feats(self, i: int, j: int) -> np.ndarray:
        key = (i, j)
        if key not in self._resp_feats:
            r = self._resp[i][j]
            verdict = None
            if self._verifier is not None and r is not None and extract_code(r) is not None:
                verdict = self._verifier.verify(self.table.prompts[i], r)
            self._resp_feats[key] = response_features(self.table.prompts[i], r, verdict)
        return self._resp_feats[key]


def stage_features(ctx: Context, stages: list[int], final: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the features after consulting ``stages`` and the candidate's score (the
    plurality answer's model, or the weighted vote's answer when ``ctx.vote_w`` is set)."""
    x, y, _ = stage_rows(ctx, stages, final)
    return x, y


def _plurality_row(ctx: Context, i: int, stages: list[int], final: int) -> tuple[np.ndarray, int]:
    """Row ``i``'s features once ``stages`` were consulted, and its candidate: the model (the one the
    prior trusts most) of the answer most of them gave (ties: the larger prior weight)."""
    k = len(stages)
    answers = ctx.answers_for(i, stages)
    groups: dict[str, list[int]] = {}
    for j in stages:
        a = answers[j]
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
    agree += [float(answers[a] is not None and answers[a] == answers[b])
              for x, a in enumerate(stages) for b in stages[x + 1:]]  # which pairs agree
    return np.concatenate([base, agree, ctx.prompt_feats[i], ctx.response_feats(i, cand)]), cand


def stage_rows(ctx: Context, stages: list[int], final: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """:func:`stage_features` and, per row, the candidate (the model whose response is returned)."""
    if ctx.vote_w is not None:
        return voted_stage_rows(ctx, stages, final)
    ctx.prefetch(stages)
    rows, cands = [], []
    for i in range(ctx.table.n):
        row, cand = _plurality_row(ctx, i, stages, final)
        rows.append(row)
        cands.append(cand)
    return np.array(rows), ctx.scores[np.arange(ctx.table.n), np.array(cands, dtype=int)], cands


def voted_stage_rows(ctx: Context, stages: list[int], final: int
                          ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Like :func:`stage_rows`, with the weighted vote's answer as the candidate and its
    weight share and margin as features (see :mod:`tierflow.routing.routers.cascade.vote`)."""
    assert ctx.vote_w is not None
    k = len(stages)
    rows, quality, cands = [], [], []
    ctx.prefetch(stages)
    for i in range(ctx.table.n):
        v = weighted_vote(ctx.answers_for(i, stages), stages, ctx.vote_w[i], ctx.prior[i])
        cand = v.returned
        cands.append(cand)
        pri = ctx.prior[i, stages]
        base = [len(v.members) / k, float(len(v.members) == k and k > 1), v.n_answers / k, v.share, v.margin,
                ctx.prior[i, cand], ctx.prior[i, final], pri.max(), pri.mean(), float(v.answer is None)]
        agree = [float(j in v.members) for j in stages]
        rows.append(np.concatenate([base, agree, ctx.prompt_feats[i], ctx.response_feats(i, cand)]))
        quality.append(vote_quality(v, ctx.scores[i]))
    return np.array(rows), np.array(quality), cands


def final_quality(ctx: Context, stages: list[int], final: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the score returned on escalation and whether it could not be scored by answer:
    the final model's own score, or with voting the vote of every consulted model."""
    if ctx.vote_w is None:
        return ctx.scores[:, final], np.zeros(ctx.table.n, bool)
    votes = escalation_votes(ctx, stages, final)
    return (np.array([vote_quality(v, ctx.scores[i]) for i, v in enumerate(votes)]),
            np.array([v.answer is None for v in votes]))


def escalation_votes(ctx: Context, stages: list[int], final: int) -> list[Vote]:
    """Per row, the weighted vote of every consulted model once the final model was asked."""
    assert ctx.vote_w is not None
    voters = list(dict.fromkeys(stages + [final]))
    ctx.prefetch(voters)
    return [weighted_vote(ctx.answers_for(i, voters), voters, ctx.vote_w[i], ctx.prior[i]) for i in range(ctx.table.n)]


def escalation_answer(ctx: Context, stages: list[int], final: int) -> list[int]:
    """Per row, the model whose response is returned on escalation: the final model's, or the vote's."""
    if ctx.vote_w is None:
        return [final] * ctx.table.n
    return [v.returned for v in escalation_votes(ctx, stages, final)]
