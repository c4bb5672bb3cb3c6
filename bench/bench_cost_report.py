"""``tierflow cost report`` on a million-row ledger: build it once, then time the report per --by key.

    PYTHONPATH=src .venv/bin/python bench/bench_cost_report.py [--rows 1000000] [--ledger F] [--plot]

The ledger (30 days of synthetic requests, the gateway's schema) is kept at ``--ledger`` (default
in the temp folder) and reused while it has the right number of rows. Each figure is the best of 3
runs of :func:`tierflow.tracing.report.cost_report` with its rollup cache warm (the whole report:
the ledger's row count, the rows appended since, the rollup query and the fold); the first report,
which builds the rollup, and one after 1,000 appended rows are timed too; ``--plot`` also times
drawing the PNG. Goal: under a second (docs/tracing.md).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path


def _ledger(path: Path, rows: int) -> Path:
    from tierflow.tracing._synthetic import fill_ledger

    if path.is_file():
        with sqlite3.connect(path) as conn:
            if conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] >= rows:
                return path
        path.unlink()
    t0 = time.perf_counter()
    fill_ledger(path, rows, start=time.time() - 30 * 86400, span_s=30 * 86400)
    print(f"built {rows:,} rows in {time.perf_counter() - t0:.1f} s: {path} ({path.stat().st_size / 1e6:.0f} MB)")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--ledger", type=Path, default=Path(tempfile.gettempdir()) / "tierflow-bench-ledger.sqlite")
    ap.add_argument("--plot", action="store_true")
    args = ap.parse_args()
    from tierflow.tracing.report import BY, cost_report

    path = _ledger(args.ledger, args.rows)
    from tierflow.tracing._rollup import cache_path

    cache_path(path).unlink(missing_ok=True)
    t0 = time.perf_counter()
    cost_report(path, by="model")
    print(f"first report (builds the hourly rollup from {args.rows:,} rows): {time.perf_counter() - t0:.2f} s")
    from tierflow.tracing._synthetic import fill_ledger

    fill_ledger(path, 1000, start=time.time() - 3600, span_s=3600, seed=7)
    t0 = time.perf_counter()
    cost_report(path, by="model")
    print(f"report after 1,000 new rows (folds them in): {(time.perf_counter() - t0) * 1000:.0f} ms")
    for by in BY:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            report = cost_report(path, by=by)
            best = min(best, time.perf_counter() - t0)
        print(f"--by {by:<8} {best * 1000:7.0f} ms  ({len(report.rows)} rows, {report.total.calls:,} calls)")
    if args.plot:
        from tierflow.tracing.plot import write_plot

        out = Path(tempfile.gettempdir()) / "tierflow-bench-cost.png"
        t0 = time.perf_counter()
        write_plot(cost_report(path, by="model"), out)
        print(f"report + PNG plot: {(time.perf_counter() - t0) * 1000:.0f} ms ({out})")


if __name__ == "__main__":
    main()
