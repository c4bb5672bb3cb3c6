"""Decode speed of the embedded local models: tierflow's local provider vs raw llama-cpp-python.

    .venv/bin/python bench/bench_local.py [--models NAME ...] [--tokens 64] [--repeat 3]
                                          [--threads N]

For every installed model (``tierflow models pull --all`` installs them all) it streams
``--tokens`` tokens at temperature 0 and measures decode speed, (tokens - 1) / (time of the last
token - time of the first), and the time to the first token. Baseline, in the same run on the same
loaded weights: ``Llama.create_completion(stream=True)`` called directly in this thread, with the
same prompt tokens and sampling settings. The ratio tierflow / raw is the provider's cost (worker
thread, asyncio queue, token hook); 1.00 means none. The two clients alternate run by run so that
machine load hits both alike; the table shows the best of ``--repeat`` runs (the least disturbed
by other processes) and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from tierflow.local_models import CATALOGUE, model_path
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.providers.local import _default_threads, _loaded_model
from tierflow.types import ChatRequest

PROMPT = "Write a short story about a lighthouse keeper and a storm."


async def _tierflow_run(provider, name: str, tokens: int) -> tuple[float, float, int]:
    request = ChatRequest(model=name, messages=[{"role": "user", "content": PROMPT}],
                          temperature=0.0, seed=1, max_tokens=tokens)
    start = time.perf_counter()
    first = last = None
    n = 0
    async for chunk in provider.stream(request, timeouts=Timeouts()):
        if chunk.text:
            last = time.perf_counter()
            first = first or last
        if chunk.usage:
            n = chunk.usage.output_tokens
    return first - start, (n - 1) / (last - first), n


def _raw_run(llama, formatter, tokens: int) -> tuple[float, float, int]:
    fmt = formatter(messages=[{"role": "user", "content": PROMPT}])
    prompt = llama.tokenize(fmt.prompt.encode(), add_bos=not fmt.added_special, special=True)
    llama.reset()
    start = time.perf_counter()
    first = last = None
    n = 0
    for piece in llama.create_completion(prompt=prompt, max_tokens=tokens, temperature=0.0,
                                         stop=fmt.stop, seed=1, stream=True):
        if piece["choices"][0]["text"]:
            last = time.perf_counter()
            first = first or last
            n += 1  # one piece per token here (no multi-byte merging in this English text)
    return first - start, (n - 1) / (last - first), n


async def bench_model(name: str, tokens: int, repeat: int, threads: int) -> dict[str, float]:
    provider = create_provider("local", ProviderSettings(kind="local",
                                                         options={"n_threads": threads}))
    await _tierflow_run(provider, name, 4)  # load the model and warm up
    loaded = _loaded_model(model_path(name), 4096, threads)
    tf, raw = [], []
    for _ in range(repeat):
        tf.append(await _tierflow_run(provider, name, tokens))
        # the same Llama object, on its own worker thread (it is not thread-safe)
        raw.append(await asyncio.get_running_loop().run_in_executor(
            loaded.executor, _raw_run, loaded._llama, loaded._formatter, tokens))
    return {"tf_best": max(r[1] for r in tf), "raw_best": max(r[1] for r in raw),
            "tf_median": statistics.median(r[1] for r in tf),
            "raw_median": statistics.median(r[1] for r in raw),
            "tf_ttft": min(r[0] for r in tf), "raw_ttft": min(r[0] for r in raw)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None, help="default: every installed model")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=_default_threads())
    args = ap.parse_args()
    names = args.models or [n for n in CATALOGUE if model_path(n).is_file()]
    if not names:
        print("no local model installed: run `tierflow models pull --all`", file=sys.stderr)
        return 1
    print(f"decode tok/s, {args.tokens} tokens, temperature 0, {args.threads} threads, "
          f"{args.repeat} runs each; best (median)")
    print(f"{'model':30} {'tierflow':>16} {'raw llama-cpp':>16} {'ratio':>6} "
          f"{'ttft tierflow':>13} {'ttft raw':>9}")
    for name in names:
        r = asyncio.run(bench_model(name, args.tokens, args.repeat, args.threads))
        print(f"{name:30} {r['tf_best']:7.1f} ({r['tf_median']:6.1f}) "
              f"{r['raw_best']:7.1f} ({r['raw_median']:6.1f}) {r['tf_best'] / r['raw_best']:6.2f} "
              f"{r['tf_ttft'] * 1000:11.0f}ms {r['raw_ttft'] * 1000:7.0f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
