"""Routers for N models recover the right routing on a table where it is known."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.errors import RoutingError
from tierflow.routing.pipeline import embed_prompts, fit_router
from tierflow.routing.routers import router_class, router_kinds

from .conftest import two_topic_table


@pytest.mark.parametrize("kind", ["knn", "cluster", "linear", "task", "blend"])
def test_pre_router_finds_the_oracle_routing(kind):
    train, test = two_topic_table(120, seed=0), two_topic_table(60, seed=5)
    router = fit_router(train, kind, embedder="hashing", params={"clusters": 4} if kind in ("cluster", "blend") else None)
    emb = embed_prompts(router, test.prompts)
    pts = router.points(test, emb)
    q, c, _ = pts.means()
    # some knob setting routes math to cheap and poems to strong: quality 1 at the oracle's cost
    best = np.nonzero(q >= 1.0 - 1e-9)[0]
    assert len(best), f"{kind}: never reaches full quality"
    assert c[best].min() == pytest.approx(5.5e-4, rel=1e-6)
    # the calibrated knob (95% of the best model's quality) is at least that good on held-out prompts
    d_math = router.choose(embed_prompts(router, [test.prompts[0]])[0], text=test.prompts[0])
    d_poem = router.choose(embed_prompts(router, [test.prompts[1]])[0], text=test.prompts[1])
    assert (d_math.chosen_model, d_poem.chosen_model) == ("cheap", "strong")
    assert d_math.runner_up_model == "strong"


def test_choose_respects_allowed_models(two_topic):
    router = fit_router(two_topic, "knn", embedder="hashing")
    emb = embed_prompts(router, [two_topic.prompts[1]])[0]
    assert router.choose(emb, allowed=[0]).chosen_model == "cheap"


def test_kinds_are_registered():
    assert {"knn", "cluster", "linear", "task", "blend", "cascade"} <= set(router_kinds())
    with pytest.raises(RoutingError, match="unknown router kind"):
        router_class("nope")


def test_router_refuses_table_without_its_models(two_topic, agreement):
    router = fit_router(two_topic, "task", embedder="hashing")
    with pytest.raises(RoutingError, match="no such model columns"):
        router.points(agreement, embed_prompts(router, agreement.prompts))


def test_fit_refuses_tiny_or_single_model_tables(two_topic):
    with pytest.raises(RoutingError, match="at least 10"):
        fit_router(two_topic.subset(range(5)), "knn", embedder="hashing")


def test_linear_clips_inputs_to_their_training_range(two_topic, tmp_path):
    from tierflow.routing.io import load_router, save_router

    clipped = fit_router(two_topic, "linear", embedder="hashing")
    loose = fit_router(two_topic, "linear", embedder="hashing", params={"clip": False})
    # a prompt with far more lines and digits than any training prompt
    text = two_topic.prompts[0] + "\n12345" * 400
    emb = embed_prompts(clipped, [text])
    x = clipped._inputs(emb, [text])
    assert (x <= clipped.x_hi + 1e-12).all() and (x >= clipped.x_lo - 1e-12).all()
    assert (loose._inputs(emb, [text]) > clipped.x_hi + 1).any()  # unclipped, it lies far outside
    train_q, _ = clipped.predict(embed_prompts(clipped, two_topic.prompts), texts=two_topic.prompts)
    q, _ = clipped.predict(emb, texts=[text])
    assert np.abs(q - train_q).min(axis=0).max() < 0.5  # near what some training prompt got
    back = load_router(save_router(clipped, tmp_path / "l.json"))
    np.testing.assert_allclose(back.predict(emb, texts=[text])[0], q, atol=1e-9)


def test_task_router_is_scored_from_the_prompt_as_live_not_from_recorded_labels():
    import dataclasses

    train = two_topic_table(120, seed=0)
    test = dataclasses.replace(two_topic_table(60, seed=5), tasks=["math"] * 60)  # labels live requests lack
    router = fit_router(train, "task", embedder="hashing")
    q, c, _ = router.points(test, embed_prompts(router, test.prompts)).means()
    # the nearest task centroid still sends poems to the strong model: full quality at the oracle's cost
    full = np.nonzero(q >= 1.0 - 1e-9)[0]
    assert len(full) and c[full].min() == pytest.approx(5.5e-4, rel=1e-6)

