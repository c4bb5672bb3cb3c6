"""The gateway ledger's writer: CPU per row with random request ids (UUIDv4) and time-ordered ones.

    python bench/bench_ledger_ids.py [--rows 60000] [--group 300]

Writes ``--rows`` request rows (and one attempt row each) into a fresh ledger file, in groups of
``--group`` per transaction as the gateway's writer thread commits them, once with UUIDv4 ids and
once with the gateway's ids (:func:`tierflow.gateway.exchange.new_request_id`, UUIDv7); prints the
writer's CPU time per row (``time.thread_time``) for each quarter of the file's growth and the
ratio of the two, measured in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tierflow.gateway.exchange import new_request_id
from tierflow.gateway.ledger import _ATTEMPT_SQL, _REQUEST_SQL, connect


def _quarters(make_id: Callable[[], str], rows: int, group: int) -> list[float]:
    """CPU µs per row of each quarter of ``rows``, ids from ``make_id``."""
    with tempfile.TemporaryDirectory() as d:
        conn = connect(Path(d) / "gateway.sqlite")
        per_group: list[float] = []
        for _ in range(rows // group):
            requests, attempts = [], []
            for _ in range(group):
                rid = make_id()
                requests.append((rid, time.time(), None, None, None, "bench", "bench", "t/bench-model", "t", 0, 200,
                                 "ok", None, 20, 16, 0, 0, 0.0001, 3.2, None, 1, None, None, None, None, None))
                attempts.append((rid, 0, "t/bench-model", "ok", None, None, 0.0, 0.003))
            t0 = time.thread_time()
            conn.execute("BEGIN")
            conn.executemany(_REQUEST_SQL, requests)
            conn.executemany(_ATTEMPT_SQL, attempts)
            conn.execute("COMMIT")
            per_group.append(time.thread_time() - t0)
        conn.close()
    k = len(per_group) // 4
    return [sum(per_group[i * k:(i + 1) * k]) / (k * group) * 1e6 for i in range(4)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--group", type=int, default=300)
    args = parser.parse_args()
    v4 = _quarters(lambda: uuid.uuid4().hex, args.rows, args.group)
    v7 = _quarters(new_request_id, args.rows, args.group)
    print(f"writer CPU per row (µs), by quarter of {args.rows:,} rows in groups of {args.group}")
    print("| ids | 1st | 2nd | 3rd | 4th |\n|---|---|---|---|---|")
    for name, q in (("UUIDv4 (random)", v4), ("UUIDv7 (time-ordered)", v7)):
        print(f"| {name} | " + " | ".join(f"{x:.1f}" for x in q) + " |")
    print("| v4 / v7 | " + " | ".join(f"{a / b:.2f}x" for a, b in zip(v4, v7, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
