"""Benchmark: catalog query latency (warm) and `tierflow models query` start-up.

One command: ``.venv/bin/python bench/bench_catalog.py [--runs N]``. Builds a catalog in a
temporary folder from the default data directory, then measures in the same run:

- warm query: seed 002's four queries on an open read-only connection (median over runs),
  against ``SELECT 1`` on the same connection as the baseline;
- open + query: a new read-only connection per query (what one CLI call does);
- CLI start-up: ``tierflow models query ... --json`` as a subprocess, against ``python -c pass``.

Targets (issue 5): warm query well under 100 ms; CLI start-up under 0.5 s.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED_QUERIES = {
    "orchestrator": "SELECT name, creator, intelligence, coding, price FROM llms WHERE intelligence >= 55 "
                    "AND coding >= 45 ORDER BY intelligence DESC LIMIT 5",
    "reasoning": "SELECT name, creator, intelligence, price FROM llms WHERE intelligence >= 45 ORDER BY price LIMIT 5",
    "tool": "SELECT name, creator, intelligence, coding, price FROM llms WHERE intelligence >= 40 AND coding >= 40 "
            "ORDER BY price LIMIT 5",
    "cheap": "SELECT name, creator, intelligence, price, tps FROM llms WHERE intelligence >= 25 ORDER BY price LIMIT 5",
}


def _median_s(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _median_child_cpu_s(cmd: list[str], runs: int) -> float:
    """Median user+system CPU seconds of a subprocess: steadier than wall time on a busy machine."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30, help="repetitions per measurement (median reported)")
    ap.add_argument("--cli-runs", type=int, default=7, help="repetitions of each subprocess")
    args = ap.parse_args()

    from tierflow.catalog.build import build_catalog
    from tierflow.catalog.query import connect, run_query

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.duckdb"
        t = time.perf_counter()
        report = build_catalog(out=path)
        build_s = time.perf_counter() - t
        print(f"catalog build: {build_s:.2f} s, {report.tables['llms']} models "
              f"(sources: {', '.join(report.sources)})")

        con = connect(path)
        base = _median_s(lambda: run_query("SELECT 1", con=con), args.runs)
        print(f"\nwarm query (open connection), median of {args.runs}; baseline SELECT 1 = {base * 1e3:.2f} ms")
        for name, sql in SEED_QUERIES.items():
            s = _median_s(lambda sql=sql: run_query(sql, con=con), args.runs)
            print(f"  {name:<13} {s * 1e3:7.2f} ms  ({s / base:5.1f}x baseline)  target < 100 ms: "
                  f"{'ok' if s < 0.1 else 'MISSED'}")
        con.close()
        s = _median_s(lambda: run_query(SEED_QUERIES["orchestrator"], path=path), args.runs)
        print(f"  open+query    {s * 1e3:7.2f} ms  (new read-only connection each time)")

        tierflow = str(Path(sys.executable).parent / "tierflow")
        py = _median_s(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.cli_runs)
        cmd = [tierflow, "models", "query", SEED_QUERIES["orchestrator"], "--json", "--catalog", str(path)]
        cli = _median_s(lambda: subprocess.run(cmd, check=True, capture_output=True), args.cli_runs)
        hlp = _median_s(lambda: subprocess.run([tierflow, "--help"], check=True, capture_output=True), args.cli_runs)
        py_cpu = _median_child_cpu_s([sys.executable, "-c", "pass"], args.cli_runs)
        cli_cpu = _median_child_cpu_s(cmd, args.cli_runs)
        print(f"\nCLI, median of {args.cli_runs} subprocess runs; baseline `python -c pass` = {py:.3f} s wall, "
              f"{py_cpu:.3f} s CPU")
        print(f"  tierflow --help                  {hlp:.3f} s wall ({hlp / py:4.1f}x baseline)")
        print(f"  tierflow models query ... --json {cli:.3f} s wall ({cli / py:4.1f}x baseline), {cli_cpu:.3f} s CPU "
              f"({cli_cpu / py_cpu:4.1f}x)  target < 0.5 s: {'ok' if cli < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
