"""The console's runs and cost queries on a million-row ledger (goal: every page under a second).

    python bench/bench_console_ledger.py [--rows 1000000] [--db PATH]

Builds a gateway database with ``--rows`` requests spread over 30 days (12 roles, 40 models, 200
keys, 3 % errors; in a new temporary folder unless ``--db`` names a file, which is replaced) with
the gateway's own schema (:func:`tierflow.gateway.ledger.connect`), lets
the console create its indexes (timed), then times each query the views make, median of 5 runs.
The baseline, measured in the same run, is the same deep page read with ``OFFSET`` (how request
logs are usually paged): the ratio shows what keyset paging saves there.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierflow.console.ledger_views import LedgerViews
from tierflow.gateway.ledger import connect

_COLUMNS = 26


def build(path: Path, rows: int) -> None:
    rng = random.Random(7)
    now = time.time()
    conn = connect(path)
    conn.execute("BEGIN")
    batch: list[tuple[Any, ...]] = []
    for i in range(rows):
        ts = now - rng.random() * 30 * 86400
        role = f"role{rng.randrange(12)}"
        error = rng.random() < 0.03
        batch.append((f"req-{i:08d}", ts, f"key-{rng.randrange(200):03d}", None, None, role, role,
                      f"p/model-{rng.randrange(40):02d}", "p", 0, 502 if error else 200, "error" if error else "ok",
                      "upstream_error" if error else None, 400, 120, None, None, None if error else 0.002,
                      150.0, None, 1, None, None, None, None, None))
        if len(batch) == 50_000:
            conn.executemany(f"INSERT INTO requests VALUES ({', '.join('?' * _COLUMNS)})", batch)
            batch.clear()
    if batch:
        conn.executemany(f"INSERT INTO requests VALUES ({', '.join('?' * _COLUMNS)})", batch)
    conn.execute("COMMIT")
    conn.close()


def timed(fn: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tierflow-bench-console-") as tmp:
        if args.db is None:
            args.db = Path(tmp) / "gateway.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.db) + suffix).unlink(missing_ok=True)
        run(args.db, args.rows)


def run(db_path: Path, rows: int) -> None:
    args = argparse.Namespace(db=db_path, rows=rows)
    start = time.perf_counter()
    build(args.db, args.rows)
    print(f"built {args.rows:,} requests in {time.perf_counter() - start:.1f} s")
    views = LedgerViews(args.db)
    start = time.perf_counter()
    views.warm()
    print(f"console indexes and cost roll-ups created in {time.perf_counter() - start:.1f} s (once, at start)")

    cursor = None
    for _ in range(20):  # the cursor of page 21
        cursor = views.runs({"limit": "50", **({"before": cursor} if cursor else {})})["next"]
    week = str(time.time() - 7 * 86400)
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("runs, first page", lambda: views.runs({"limit": "50"})),
        ("runs, page 21 (keyset)", lambda: views.runs({"limit": "50", "before": cursor or ""})),
        ("runs, role filter", lambda: views.runs({"role": "role3", "limit": "50"})),
        ("runs, model + status filter", lambda: views.runs({"model": "p/model-07", "status": "502", "limit": "50"})),
        ("runs, key + last week", lambda: views.runs({"key": "key-042", "since": week, "limit": "50"})),
        ("run detail", lambda: views.run("req-00000042")),
        ("cost by role per day, 7 days", lambda: views.cost({"by": "role", "bucket": "day"})),
        ("cost by key per hour, 7 days", lambda: views.cost({"by": "key", "bucket": "hour"})),
        ("cost by model per day, 30 days", lambda: views.cost({"by": "model", "bucket": "day",
                                                                "since": str(time.time() - 31 * 86400)})),
    ]
    results = {name: timed(fn) for name, fn in cases}
    db = connect(args.db)
    raw_cost = timed(lambda: db.execute(
        "SELECT CAST(ts / 86400 AS INTEGER), model, COUNT(*), SUM(cost_usd) FROM requests WHERE ts >= ? "
        "GROUP BY 1, 2", (time.time() - 31 * 86400,)).fetchall(), repeat=3)
    baseline = timed(lambda: db.execute("SELECT * FROM requests ORDER BY ts DESC LIMIT 50 OFFSET 1000").fetchall())
    deep_offset = timed(lambda: db.execute(
        "SELECT * FROM requests ORDER BY ts DESC LIMIT 50 OFFSET 500000").fetchall(), repeat=3)
    db.close()
    views.close()
    print(f"{'query':<34} {'median':>10}  under 1 s")
    for name, seconds in results.items():
        print(f"{name:<34} {seconds * 1000:>8.1f} ms  {'yes' if seconds < 1 else 'NO'}")
    print(f"baseline: OFFSET 1,000 page {baseline * 1000:.1f} ms; OFFSET 500,000 page {deep_offset * 1000:.1f} ms "
          f"({deep_offset / results['runs, page 21 (keyset)']:.0f}x the keyset page); cost by model per day over "
          f"30 days from the requests {raw_cost * 1000:.0f} ms "
          f"({raw_cost / results['cost by model per day, 30 days']:.0f}x the roll-ups)")


if __name__ == "__main__":
    main()
