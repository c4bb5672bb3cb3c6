"""The cascade router accepts cheap answers when models agree and escalates when they do not."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.data.outcomes import OutcomeTable, concat
from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import load_router, save_router

from ...conftest import agreement_table, two_topic_table


def test_agreement_cascade_reaches_full_quality_at_the_right_cost():
    from tierflow.routing.routers.cascade.chain import chain_points
    from tierflow.routing.routers.cascade.features import Context
    from tierflow.routing.routers.knn import knn_average

    train, test = agreement_table(300, seed=1), agreement_table(200, seed=2)
    router = fit_router(train, "cascade", embedder="hashing")
    chain = router.chains[0]  # one task: one chain
    assert router.models[chain.final] == "strong"
    assert set(chain.stages) == {0, 1}  # both cheap models are consulted
    emb = embed_prompts(router, test.prompts)
    prior = knn_average(emb.astype(np.float32), router.keys, router.key_scores, router.k)
    # the chain's thresholds on the held-out prompts, with the estimators fitted on the training ones
    q, c, s = chain_points(Context(test, prior, router.verify), chain.stages, chain.final, router.c, router.rule,
                           None, chain.estimators).means()
    hard = np.array([test.scores[i, 0] == 0 for i in range(test.n)])
    # the ideal: everyone pays both cheap models, only disagreements pay the strong one
    ideal_cost = 3e-4 + hard.mean() * 5e-3
    full = np.nonzero(q >= 1.0 - 1e-9)[0]
    assert len(full)
    assert c[full].min() == pytest.approx(ideal_cost, rel=1e-6)
    assert s[full[np.argmin(c[full])]] == pytest.approx(hard.mean())
    # the knob curve, whose settings were chosen on the training prompts, comes close on these
    kq, kc, _ = router.points(test, emb).means()
    assert kq.max() >= 0.9 and kc[np.argmax(kq)] < 0.6 * 5.3e-3


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
    # the prior's neighbourhood was measured on the training prompts, and is kept with its evidence
    assert back.k == router.k == router.k_choice["chosen"]
    assert back.k_choice == router.k_choice
    assert router.k_choice["brier_ratio"][str(router.k)] == min(router.k_choice["brier_ratio"].values())


def test_cascade_refuses_a_neighbourhood_size_that_is_not_a_whole_number():
    with pytest.raises(RoutingError, match="param k: expected 'auto' or a positive whole number, got 'lots'"):
        fit_router(agreement_table(60, seed=3), "cascade", embedder="hashing", params={"k": "lots"})


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


def test_small_tasks_asked_with_one_template_share_a_chain():
    """Eight subjects of 25 prompts, each too small for a chain of its own, all opening with the same
    solved examples: they are pooled into one group (not sent to the nearest big task's chain)."""
    shots = "Solved examples.\n" + "Q: what is two plus two? A: four.\n" * 8 + "\n"
    small = agreement_table(200, seed=8)
    small.tasks = [f"subject-{i % 8}" for i in range(small.n)]
    small.prompts = [shots + p for p in small.prompts]
    big = agreement_table(200, seed=9)
    big.tasks = ["swapped"] * big.n
    big.prompts = [p.replace("question", "zebra giraffe") for p in big.prompts]
    big.costs = big.costs[:, [2, 1, 0]]  # here the strong model is the cheapest: its chain just asks it
    router = fit_router(concat([small, big]), "cascade", embedder="hashing", params={"min_group": 100})
    assert router.group_names == ["pooled-template-0", "swapped"]
    assert set(router.chains[0].stages) == {0, 1} and router.chains[1].stages == [router.models.index("strong")]


def test_cascade_evaluates_a_table_that_fills_only_some_groups():
    a, b = agreement_table(200, seed=6), agreement_table(200, seed=7)
    b.tasks = ["other"] * b.n
    b.prompts = [p.replace("question", "zebra giraffe") for p in b.prompts]
    # k pinned: the hashing embedder ties many similarities, and a matmul's rounding differs with
    # the batch's size, so wide neighbourhoods may break ties differently in the two evaluations
    router = fit_router(concat([a, b]), "cascade", embedder="hashing", params={"min_group": 50, "k": 15})
    assert len(router.chains) == 2
    only_a = agreement_table(60, seed=8)  # every prompt lands in the first group
    emb = embed_prompts(router, only_a.prompts)
    assert (router._group_of(emb) == 0).all()
    pts = router.points(only_a, emb)
    whole = router.points(concat([only_a, b]), embed_prompts(router, concat([only_a, b]).prompts))
    np.testing.assert_array_equal(pts.quality, whole.quality[:, :only_a.n])


def _code_table(n: int = 24):
    """Two cheap coders and a strong one; on even rows the cheap two write equivalent code (both
    right), on odd rows one of them is off by one (both scored wrong)."""

    prompts, responses, scores = [], [], []
    for i in range(n):
        k = i + 2
        good1 = f"```python\ndef add_{i}(xs):\n    return [x + {k} for x in xs]\n```\nprint(add_{i}([1, 2]))"
        good2 = f"```python\ndef plus(values):\n    out = []\n    for v in values:\n        out.append(v + {k})\n" \
                f"    return out\n```\n>>> plus([5])"
        bad2 = good2.replace(f"v + {k}", f"v + {k + 1}")
        prompts.append(f"Write a function that adds {k} to every element of a list.")
        responses.append([good1, good2 if i % 2 == 0 else bad2, good1])
        scores.append([float(i % 2 == 0), float(i % 2 == 0), 1.0])
    return OutcomeTable([f"c{i}" for i in range(n)], prompts, ["code"] * n, ["cheap1", "cheap2", "strong"],
                        np.array(scores), np.tile([1e-4, 2e-4, 5e-3], (n, 1)), responses)


def test_code_responses_agree_by_behaviour_on_inputs_of_the_consulted_models_only():
    from tierflow.routing.features.code_behaviour import behaviour_keys
    from tierflow.routing.routers.cascade.features import Context, stage_features

    table = _code_table()
    ctx = Context(table, np.full(table.scores.shape, 0.5), verify=False)
    assert ctx.code_rows([0, 1]).all()
    x, quality = stage_features(ctx, [0, 1], 2)
    n_stage_cols = 2  # "which models back the candidate" (2) then "which pairs agree" (1)
    pair_agree = x[:, 9 + n_stage_cols]
    np.testing.assert_array_equal(pair_agree, [float(i % 2 == 0) for i in range(table.n)])
    np.testing.assert_array_equal(quality, table.scores[:, 0])
    # the keys are those of the two consulted responses alone (the strong model's is not used)
    row = ctx.answers_for(3, [0, 1])
    assert row[:2] == behaviour_keys(table.prompts[3], table.responses[3][:2]) and row[2] is None


def _noisy_table(n: int, seed: int, task: str) -> OutcomeTable:
    """Three cheap models of different skill and a strong one, answering letter questions; the
    cheap ones are more often right together, so agreement is informative but not decisive."""

    rng = np.random.default_rng(seed)
    words = ["river", "planet", "engine", "violin", "garden", "castle", "market", "winter", "copper", "falcon"]
    prompts, responses, scores, costs = [], [], [], []
    for i in range(n):
        truth = "ABCD"[rng.integers(4)]
        easy = rng.random() < 0.6
        row = []
        for skill in (0.55, 0.65, 0.75, 0.92):
            right = rng.random() < (min(1.0, skill + 0.3) if easy else skill - 0.3)
            row.append(truth if right else "ABCD".replace(truth, "")[rng.integers(3)])
        prompts.append(f"{task}: " + " ".join(rng.choice(words, 6)) + f" #{i}?")
        responses.append(row)
        scores.append([float(a == truth) for a in row])
        costs.append(np.array([1e-4, 2e-4, 4e-4, 5e-3]) * rng.uniform(0.8, 1.2))
    return OutcomeTable([f"{task}{i}" for i in range(n)], prompts, [task] * n, ["c1", "c2", "c3", "strong"],
                        np.array(scores), np.array(costs), responses)


@pytest.mark.parametrize("vote", ["none", "weighted"])
def test_live_steps_do_what_the_offline_evaluation_scores(vote):
    """Driving next_step with the recorded responses, one consulted model at a time, returns the
    response points() scores and consults exactly the models it charges, at every knob."""
    train = concat([_noisy_table(150, 11, "alpha"), _noisy_table(150, 12, "beta")])
    test = concat([_noisy_table(40, 13, "alpha"), _noisy_table(40, 14, "beta")])
    router = fit_router(train, "cascade", embedder="hashing", params={"vote": vote, "min_group": 100})
    assert len(router.chains) == 2
    emb = embed_prompts(router, test.prompts)
    knobs = router.knob_grid()
    pts = router.points(test, emb, knobs)
    escalations = 0
    for k, knob in enumerate(knobs):
        for i in range(test.n):
            consulted: dict[int, str | None] = {}
            while True:
                step = router.next_step(emb[i], test.prompts[i], consulted, knob=float(knob))
                if step.action == "answer":
                    break
                assert step.model not in consulted
                consulted[step.model] = test.responses[i][step.model]
            assert step.model in consulted
            escalations += 3 in consulted and len(consulted) > 1
            assert test.scores[i, step.model] == pts.quality[k, i], (knob, i)
            assert sum(test.costs[i, j] for j in consulted) == pytest.approx(pts.cost[k, i], rel=1e-9), (knob, i)
    assert escalations  # some prompts went through cheap stages to the strong model


def test_a_failed_call_is_never_the_answer_and_the_chain_goes_on():
    """A consulted model whose call failed (response None) is never answered with while another
    consulted model answered; when only the strong model works, every knob ends with it."""
    train = concat([_noisy_table(150, 11, "alpha"), _noisy_table(150, 12, "beta")])
    test = concat([_noisy_table(10, 13, "alpha"), _noisy_table(10, 14, "beta")])
    router = fit_router(train, "cascade", embedder="hashing", params={"min_group": 100})
    emb = embed_prompts(router, test.prompts)
    strong = router.models.index("strong")
    single_picks = 0
    for knob in router.knob_grid():
        for i in range(test.n):
            for works in range(len(router.models)):
                consulted: dict[int, str | None] = {}
                while (step := router.next_step(emb[i], test.prompts[i], consulted, knob=float(knob))).action != "answer":
                    assert step.model not in consulted
                    consulted[step.model] = test.responses[i][step.model] if step.model == works else None
                if works in consulted:
                    assert step.model == works, (knob, i, works, consulted)
                if works == strong:
                    assert strong in consulted, (knob, i)
                    single_picks += step.stage is None and len(consulted) == 2
    assert single_picks  # some knobs pick one cheap model, whose failure sends the call to the final model
