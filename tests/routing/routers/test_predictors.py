"""The cluster, linear and task kinds: what each keeps from its training table."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router

from ..conftest import two_topic_table


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_training_prompt_is_routed_by_the_cluster_k_means_fitted_it_in(tmp_path, seed):
    from sklearn.cluster import KMeans

    from tierflow.routing.data.outcomes import OutcomeTable
    from tierflow.routing.io import load_router, save_router
    from tierflow.routing.routers import ClusterRouter

    rng = np.random.default_rng(seed)
    n = 400
    emb = rng.normal(size=(n, 16))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)  # unit vectors, as embedders give
    table = OutcomeTable([str(i) for i in range(n)], [f"p{i}" for i in range(n)], ["t"] * n, ["a", "b", "c"],
                         rng.random((n, 3)).round(), np.tile([1e-4, 1e-3, 1e-2], (n, 1)))
    router = ClusterRouter(clusters=10).fit(table, emb)
    fitted = KMeans(n_clusters=len(router.cq), n_init=4, random_state=0).fit(emb).labels_
    np.testing.assert_array_equal(router.cluster_of(emb), fitted)
    q, c = router.predict(emb)
    np.testing.assert_array_equal(q, router.cq[fitted])  # each row predicted by its own cluster's means
    np.testing.assert_array_equal(c, router.cc[fitted])
    for j in range(len(router.cq)):  # and those means are over the rows k-means put there
        rows = fitted == j
        np.testing.assert_allclose(router.cq[j], (table.scores[rows].sum(0) + 5 * table.scores.mean(0))
                                   / (rows.sum() + 5))
    back = load_router(save_router(router, tmp_path / "c.json"))
    np.testing.assert_array_equal(back.cluster_of(emb), fitted)
