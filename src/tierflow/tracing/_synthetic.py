"""Synthetic ledger rows, for the cost report's tests and benchmark (``bench/bench_cost_report.py``)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path


def fill_ledger(path: str | Path, n: int, *, start: float, span_s: float, seed: int = 0) -> None:
    """Append ``n`` requests spread over ``[start, start + span_s)`` to the ledger at ``path``."""
    from tierflow.gateway.ledger import connect

    rng = random.Random(seed)
    models = [("fast", "t/fast-model", 1e-6, 2e-6), ("strong", "t/strong-model", 10e-6, 30e-6),
              ("backup", "t/backup-model", 2e-6, 4e-6)]
    keys = ["key-a", "key-b", "key-c", None]
    conn = connect(path)
    rows = []
    for i in range(n):
        role, model, pin, pout = models[rng.randrange(3)]
        tin, tout = rng.randint(10, 2000), rng.randint(1, 500)
        ok = rng.random() > 0.03
        rows.append((f"r{seed}-{i}", start + span_s * i / n, keys[i % 4], None, None, role, role, model,
                     "t", 0, 200 if ok else 503, "ok" if ok else "error", None if ok else "ServerError",
                     tin, tout, 0, 0, tin * pin + tout * pout if ok else None, rng.uniform(50, 900), None, 1,
                     None, "candidate" if i % 10 == 0 else None, None, None, None))
        if len(rows) == 50_000:
            _insert(conn, rows)
            rows = []
    _insert(conn, rows)
    conn.close()


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO requests VALUES ({', '.join('?' * 26)})", rows)
    conn.execute("COMMIT")
