"""Code-behaviour keys for a cascade: one run per prompt against one run per set of models.

    .venv/bin/python bench/bench_code_behaviour.py [--data ../shared/data/routing] [--rows 60] [--sets 20] [--json]

A cascade compares the code answers of every set of cheap models it may consult, each set on the
inputs harvested from its own responses. On RouterBench's MBPP rows (every ``299 / rows``-th row)
and ``--sets`` sets of two and three of the eight cheapest models, with an empty cache each way:

- baseline: ``behaviour_keys`` on each set's responses, one subprocess per (prompt, set);
- ``CodeRuns``: each prompt's responses run once, in one subprocess, on every input any set could
  pick; every set's keys derived from that run.

Reports both times, their ratio, and how many (prompt, set) partitions of the responses into equal
behaviour differ between the two (0 expected). Single-threaded, one pass each.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.features.code_behaviour import CodeRuns, behaviour_keys


def _partition(keys: list[str | None]) -> list[int | None]:
    return [None if k is None else keys.index(k) for k in keys]


def bench(data: Path, rows: int = 60, sets: int = 20) -> dict[str, object]:
    table = load_outcomes([data / "routerbench" / "mbpp_train.csv"])
    assert table.responses is not None, "the MBPP table records no responses"
    picked = list(range(0, table.n, max(1, table.n // rows)))[:rows]
    cheap = [int(j) for j in np.argsort(np.nanmean(table.costs, 0))[:8]]
    pairs, triples = list(itertools.combinations(cheap, 2)), list(itertools.combinations(cheap, 3))
    chosen = pairs[: sets // 2] + triples[: sets - sets // 2]
    per_set: dict[tuple[int, tuple[int, ...]], list[int | None]] = {}
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        for i in picked:
            for group in chosen:
                responses = [table.responses[i][j] for j in group]
                per_set[(i, group)] = _partition(behaviour_keys(table.prompts[i], responses, cache_dir=Path(cache)))
        baseline_s = time.perf_counter() - start
    differ = 0
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        for i in picked:
            runs = CodeRuns(table.prompts[i], table.responses[i], cache_dir=Path(cache))
            differ += sum(_partition(runs.keys(group)) != per_set[(i, group)] for group in chosen)
        runs_s = time.perf_counter() - start
    return {"prompts": len(picked), "sets": len(chosen), "per_set_subprocess_s": baseline_s,
            "one_run_per_prompt_s": runs_s, "speedup": baseline_s / runs_s, "partitions_differing": differ}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "routing")
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--sets", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = bench(args.data, args.rows, args.sets)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['prompts']} MBPP prompts x {result['sets']} sets of cheap models, empty caches:")
    print(f"  one subprocess per (prompt, set) [baseline]  {result['per_set_subprocess_s']:7.1f} s")
    print(f"  one run per prompt (CodeRuns)                {result['one_run_per_prompt_s']:7.1f} s"
          f"  ({result['speedup']:.1f}x faster)")
    print(f"  partitions that differ: {result['partitions_differing']} of {result['prompts'] * result['sets']}")


if __name__ == "__main__":
    main()
