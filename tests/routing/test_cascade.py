"""The cascade router accepts cheap answers when models agree and escalates when they do not."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.io import load_router, save_router
from tierflow.routing.outcomes import concat
from tierflow.routing.pipeline import embed_prompts, fit_router

from .conftest import agreement_table, two_topic_table


def test_agreement_cascade_reaches_full_quality_at_the_right_cost():
    train, test = agreement_table(300, seed=1), agreement_table(200, seed=2)
    router = fit_router(train, "cascade", embedder="hashing")
    chain = router.chains[0]  # one task: one chain
    assert router.models[chain.final] == "strong"
    assert set(chain.stages) == {0, 1}  # both cheap models are consulted
    pts = router.points(test, embed_prompts(router, test.prompts))
    q, c, s = pts.means()
    hard = np.array([test.scores[i, 0] == 0 for i in range(test.n)])
    # the ideal: everyone pays both cheap models, only disagreements pay the strong one
    ideal_cost = 3e-4 + hard.mean() * 5e-3
    full = np.nonzero(q >= 1.0 - 1e-9)[0]
    assert len(full)
    assert c[full].min() == pytest.approx(ideal_cost, rel=1e-6)
    assert s[full[np.argmin(c[full])]] == pytest.approx(hard.mean())


def test_cascade_round_trips_through_a_router_file(tmp_path):
    train = agreement_table(200, seed=3)
    router = fit_router(train, "cascade", embedder="hashing")
    path = save_router(router, tmp_path / "c.json")
    back = load_router(path)
    emb = embed_prompts(back, train.prompts)
    np.testing.assert_allclose(back.points(train, emb).quality, router.points(train, emb).quality)
    decision = back.choose(emb[0])
    assert decision.chosen_model == train.models[router.chains[0].stages[0]]
    assert decision.details["cascade"][-1] == "strong"


def test_cascade_needs_responses():
    with pytest.raises(RoutingError, match="needs recorded responses"):
        fit_router(two_topic_table(), "cascade", embedder="hashing")


def test_cascade_gives_each_task_its_own_chain():
    a, b = agreement_table(200, seed=4), agreement_table(200, seed=5)
    # in task "swapped" the strong model is also the cheapest: its chain must just ask it
    b.tasks = ["swapped"] * b.n
    b.prompts = [p.replace("question", "zebra giraffe") for p in b.prompts]
    b.costs = b.costs[:, [2, 1, 0]]
    both = concat([a, b])
    router = fit_router(both, "cascade", embedder="hashing", params={"min_group": 50})
    assert router.group_names == ["mcq", "swapped"]
    assert [router.models[ch.final] for ch in router.chains] == ["strong", "strong"]
    assert router.chains[1].stages == [router.models.index("strong")]
    assert set(router.chains[0].stages) == {0, 1}
