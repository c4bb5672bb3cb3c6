"""How `route fit` and `route eval` scale from RouterBench's shared rows to a table of its full size.

    .venv/bin/python bench/route_scale.py [--data DIR] [--times 16] [--kind auto]

The shared RouterBench rows (2,225 prompts) are a sample of a table of about 36,000. This builds
a copy with every ARC and Winogrande row repeated ``--times`` times (a few random words appended to
each copy, so every prompt is new to the embedding cache on the first run; MBPP once, its code
answers being the slow part and not what grows) and runs the CLI on both tables in the same run:
wall time and peak memory of each command, and the time per training prompt at size against the
shared table's (a ratio near 1 means linear growth). The copies are near-duplicates of each other,
so their routing figures say nothing about quality: only time and memory are reported.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WORDS = "alpha beta gamma delta river stone cloud paper apple orange table window seven market violet".split()
_PEAK = "import json, resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); " \
        "print(json.dumps({'rc': r.returncode, 'out': r.stdout + r.stderr, " \
        "'peak_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))"


def _build(src: Path, dst: Path, times: int) -> int:
    """Write ``src``'s RouterBench CSVs to ``dst`` with ARC and Winogrande repeated; the prompt count."""
    csv.field_size_limit(10**9)
    dst.mkdir(parents=True)
    rng, n = random.Random(0), 0
    for f in sorted(src.glob("*.csv")):
        with f.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows, fields = list(reader), reader.fieldnames or []
        reps = 1 if "mbpp" in f.name else times
        with (dst / f.name).open("w", newline="", encoding="utf-8") as fh:
            out = csv.DictWriter(fh, fieldnames=fields)
            out.writeheader()
            for k in range(reps):
                for row in rows:
                    if k:
                        parts = ast.literal_eval(row["prompt"])
                        parts[-1] += " " + " ".join(rng.choice(_WORDS) for _ in range(3))
                        row = row | {"prompt": repr(parts), "sample_id": f"{row['sample_id']}-copy{k}"}
                    out.writerow(row)
                    n += 1
    return n


def _run(args: list[str]) -> dict:
    """Wall seconds and peak memory (MB) of one CLI command, run in a process of its own."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True,
                          check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result['out']}")
    return {"seconds": time.perf_counter() - start, "peak_mb": result["peak_mb"], "output": result["out"]}


def _fitted_on(output: str) -> int:
    for line in output.splitlines():
        if "fitted on " in line:
            return int(line.split("fitted on ")[1].split()[0])
    raise SystemExit(f"no prompt count in:\n{output}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/routing/routerbench"))
    ap.add_argument("--times", type=int, default=16)
    ap.add_argument("--kind", default="auto")
    a = ap.parse_args()
    cli = str(Path(sys.executable).with_name("tierflow"))
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, times in (("shared", 1), (f"x{a.times}", a.times)):
            table = Path(tmp) / label
            prompts = _build(a.data, table, times)
            router = Path(tmp) / f"{label}.json"
            fit = _run([cli, "route", "fit", str(table), "-o", str(router), "--kind", a.kind])
            ev = _run([cli, "route", "eval", str(router), str(table), "--json", "--no-latency"])
            n_fit = _fitted_on(fit["output"])
            report[label] = {"prompts": prompts, "fitted_on": n_fit, "fit_s": round(fit["seconds"], 1),
                             "fit_peak_mb": round(fit["peak_mb"]), "eval_s": round(ev["seconds"], 1),
                             "eval_peak_mb": round(ev["peak_mb"]), "fit_ms_per_prompt": 1000 * fit["seconds"] / n_fit}
            print(label, json.dumps(report[label]), flush=True)
    big, small = report[f"x{a.times}"], report["shared"]
    report["fit_time_per_prompt_ratio"] = round(big["fit_ms_per_prompt"] / small["fit_ms_per_prompt"], 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
