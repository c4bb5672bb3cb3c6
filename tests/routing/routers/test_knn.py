"""kNN estimates: the neighbourhood size is measured on the training prompts; the knn router."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.features.prompts import embed_prompts
from tierflow.routing.fit.train import fit_router
from tierflow.routing.routers.knn import choose_k, cross_fitted_average, knn_average


def test_knn_shrink_pulls_predictions_toward_each_models_overall_mean(two_topic, tmp_path):
    from tierflow.routing.io import load_router, save_router

    plain = fit_router(two_topic, "knn", embedder="hashing")
    shrunk = fit_router(two_topic, "knn", embedder="hashing", params={"shrink": 1e6})
    emb = embed_prompts(plain, two_topic.prompts)
    q_plain, _ = plain.predict(emb)
    q_shrunk, _ = shrunk.predict(emb)
    overall = np.nanmean(two_topic.scores, 0)
    assert np.abs(q_plain - overall).max() > 0.3  # neighbours tell the topics apart
    np.testing.assert_allclose(q_shrunk, np.broadcast_to(overall, q_shrunk.shape), atol=1e-3)
    back = load_router(save_router(shrunk, tmp_path / "k.json"))
    np.testing.assert_allclose(back.predict(emb)[0], q_shrunk, atol=1e-6)


def _blobs(n: int, centres: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``centres`` random directions, and the index of each one's centre."""
    rng = np.random.default_rng(seed)
    dirs = rng.normal(size=(centres, 32))
    label = rng.integers(0, centres, n)
    emb = dirs[label] + 0.3 * rng.normal(size=(n, 32))
    return emb / np.linalg.norm(emb, axis=1, keepdims=True), label


def test_choose_k_keeps_neighbourhoods_small_when_outcomes_follow_small_clusters():
    emb, label = _blobs(400, 40, seed=0)  # about 10 prompts per cluster
    scores = np.stack([label % 2, 1 - label % 2], axis=1).astype(float)
    k, ratio = choose_k(emb, scores)
    assert k <= 10
    assert ratio[k] < 0.3  # the neighbours know each model's outcome far better than its mean
    assert ratio[200] > ratio[k]


def test_choose_k_widens_to_the_table_mean_when_neighbours_know_nothing():
    emb, _ = _blobs(400, 40, seed=1)
    scores = np.random.default_rng(2).integers(0, 2, (400, 2)).astype(float)  # unrelated to the prompt
    scores[::7, 1] = np.nan  # unrecorded outcomes are left out, not counted as failures
    k, ratio = choose_k(emb, scores)
    assert k == 200
    assert ratio[5] > 1.1 and ratio[200] == pytest.approx(1.0, abs=0.05)


def test_choose_k_scores_each_size_as_the_leave_one_out_knn_average_would():
    from tierflow.routing.routers.knn import knn_average

    emb, label = _blobs(300, 12, seed=3)
    rng = np.random.default_rng(4)
    scores = (rng.random((300, 3)) < np.array([0.2, 0.5, 0.8])[(label % 3)][:, None]).astype(float)
    scores[rng.random((300, 3)) < 0.1] = np.nan
    _, ratio = choose_k(emb, scores, grid=(3, 20, 80))
    known = ~np.isnan(scores)
    base = np.nanmean((scores - np.nanmean(scores, 0)) ** 2)
    for k in (3, 20, 80):
        pred = knn_average(emb, emb, scores, k, exclude_self=True)
        assert ratio[k] == pytest.approx(np.mean((pred - scores)[known] ** 2) / base, rel=1e-9)


def test_cross_fitted_prior_carries_no_trace_of_the_rows_own_outcome():
    """On prompts that say nothing (identical embeddings), leaving only the row out makes its
    prior a mirror of its own outcome; the cross-fitted prior does not."""
    rng = np.random.default_rng(3)
    emb = np.ones((200, 4), np.float32) / 2.0
    scores = rng.integers(0, 2, (200, 1)).astype(float)
    leave_one_out = knn_average(emb, emb, scores, 199, exclude_self=True)[:, 0]
    crossed = cross_fitted_average(emb, scores, 199)[:, 0]
    assert np.corrcoef(leave_one_out, scores[:, 0])[0, 1] < -0.99
    assert abs(np.corrcoef(crossed, scores[:, 0])[0, 1]) < 0.3
    assert np.all(np.abs(crossed - scores.mean()) < 0.1)  # still the neighbourhood's mean
