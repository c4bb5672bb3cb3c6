"""Hourly cost roll-ups of the ledger, so the cost view reads hours, not every request (docs/console.md).

``console_cost_hourly`` holds, per dimension (role, model, key), hour and group: calls, cost,
unpriced calls and tokens. Hours are rolled up once they ended ``LAG_S`` ago (a request's row is
written when its response ends, so an hour is complete well before that), incrementally: each
roll-up scans only the requests since the last one, through the ``ts`` index. The hours not rolled
up yet, and a window's partial first hour, are read from the requests themselves, so a figure
never depends on when the roll-up ran. The tables are the console's own, beside the ledger's.

A request is *unpriced* when it used tokens and has no cost (no price known): a request that used
none (a failed one, typically) cost $0, whether or not its model has a price (:data:`UNPRICED`).
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Any

LAG_S = 2 * 3600
HOUR = 3600
DIMENSIONS = {"role": "role", "model": "model", "key": "key_id"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_cost_hourly (
  dim TEXT NOT NULL, hour REAL NOT NULL, grp TEXT, calls INTEGER NOT NULL, cost REAL NOT NULL,
  unpriced INTEGER NOT NULL, tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS console_cost_hourly_dim_hour ON console_cost_hourly (dim, hour);
CREATE TABLE IF NOT EXISTS console_cost_state (dim TEXT PRIMARY KEY, rolled_until REAL NOT NULL);
"""
_TOKENS = "COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)"
UNPRICED = f"cost_usd IS NULL AND {_TOKENS} > 0"
"""SQL: is a ledger row unpriced (tokens used, no cost known)? Summed as the unpriced calls."""
SUMS = f"COUNT(*), COALESCE(SUM(cost_usd), 0), SUM({UNPRICED}), SUM({_TOKENS})"
"""SQL: calls, cost, unpriced calls and tokens of a group of ledger rows."""
_VERSION = 2.0  # bumped when what a roll-up sums changes: roll-ups made before are dropped and made again
Row = tuple[float, Any, int, float, int, int]


def roll_up(db: sqlite3.Connection, now: float | None = None) -> None:
    """Add every hour that ended ``LAG_S`` ago and is not rolled up yet, for each dimension."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'console_cost_state'").fetchone() is None:
        db.executescript(_SCHEMA)
    if db.execute("SELECT rolled_until FROM console_cost_state WHERE dim = '#version'").fetchone() != (_VERSION,):
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM console_cost_hourly")
        db.execute("DELETE FROM console_cost_state")
        db.execute("INSERT INTO console_cost_state VALUES ('#version', ?)", (_VERSION,))
        db.execute("COMMIT")
    limit = math.floor(((now or time.time()) - LAG_S) / HOUR) * HOUR
    for dim, column in DIMENSIONS.items():
        row = db.execute("SELECT rolled_until FROM console_cost_state WHERE dim = ?", (dim,)).fetchone()
        start = row[0] if row else _first_hour(db)
        if start is None or start >= limit:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"INSERT INTO console_cost_hourly SELECT ?, CAST(ts / {HOUR} AS INTEGER) * {HOUR}, {column}, "
                       f"{SUMS} FROM requests WHERE ts >= ? AND ts < ? GROUP BY 2, 3", (dim, start, limit))
            db.execute("INSERT OR REPLACE INTO console_cost_state VALUES (?, ?)", (dim, limit))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _first_hour(db: sqlite3.Connection) -> float | None:
    first = db.execute("SELECT MIN(ts) FROM requests").fetchone()[0]
    return None if first is None else math.floor(first / HOUR) * HOUR


def cost_rows(db: sqlite3.Connection, dim: str, size: int, since: float) -> list[Row]:
    """(bucket, group, calls, cost, unpriced calls, tokens) from ``since`` on, buckets of ``size`` s."""
    roll_up(db)
    row = db.execute("SELECT rolled_until FROM console_cost_state WHERE dim = ?", (dim,)).fetchone()
    rolled_until = row[0] if row else -math.inf
    first_full = math.ceil(since / HOUR) * HOUR
    column = DIMENSIONS[dim]
    bucket = f"CAST({{t}} / {size} AS INTEGER) * {size}"
    parts: list[tuple[str, list[Any]]] = []
    if first_full < rolled_until:
        parts.append((f"SELECT {bucket.format(t='hour')}, grp, SUM(calls), SUM(cost), SUM(unpriced), SUM(tokens) "
                      "FROM console_cost_hourly WHERE dim = ? AND hour >= ? AND hour < ? GROUP BY 1, 2",
                      [dim, first_full, rolled_until]))
        raw = [(since, first_full), (rolled_until, math.inf)]
    else:
        raw = [(since, math.inf)]
    for low, high in raw:
        if low < high:
            parts.append((f"SELECT {bucket.format(t='ts')}, {column}, {SUMS} FROM requests WHERE ts >= ?"
                          + (" AND ts < ?" if high != math.inf else "") + " GROUP BY 1, 2",
                          [low] + ([high] if high != math.inf else [])))
    merged: dict[tuple[float, Any], list[float]] = {}
    for sql, params in parts:
        for b, g, calls, cost, unpriced, tokens in db.execute(sql, params):
            acc = merged.setdefault((b, g), [0, 0.0, 0, 0])
            acc[0] += calls
            acc[1] += cost or 0.0
            acc[2] += unpriced or 0
            acc[3] += tokens or 0
    return [(b, g, int(a[0]), float(a[1]), int(a[2]), int(a[3]))
            for (b, g), a in sorted(merged.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))]


__all__ = ["DIMENSIONS", "LAG_S", "SUMS", "UNPRICED", "cost_rows", "roll_up"]
