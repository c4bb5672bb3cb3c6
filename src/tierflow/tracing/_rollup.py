"""An hourly rollup of a ledger, kept beside the user's cache so reports need not rescan a million rows.

The cache (``$TIERFLOW_HOME/cache/ledger-rollups/<hash of the ledger's path>.sqlite``) holds, per
hour x role x model x key x variant, the calls, errors, tokens, cost and latency sum, and the
ledger's last ``rowid`` folded in. Each report folds only the rows appended since, after checking
that the ledger's row count still equals the rollup's (a replaced or deleted row, or another file
at the same path, rebuilds it). The ledger itself is only read.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (ledger TEXT NOT NULL, last_rowid INTEGER NOT NULL, rows INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rollup (
  hour INTEGER NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL, key_id TEXT NOT NULL, variant TEXT NOT NULL,
  calls INTEGER NOT NULL, errors INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL, latency_ms REAL NOT NULL, PRIMARY KEY (hour, role, model, key_id, variant));
"""
NONE = ""
"""How a missing role, model, key or variant is stored in the rollup."""
_FOLD = """
INSERT INTO rollup SELECT CAST(ts / 3600 AS INTEGER), COALESCE(role, requested, ''), IFNULL(model, ''),
  IFNULL(key_id, ''), IFNULL(variant, ''), COUNT(*),
  SUM(outcome != 'ok'), SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(cost_usd, 0)),
  SUM(latency_ms) FROM l.requests WHERE rowid > ? AND rowid <= ? GROUP BY 1, 2, 3, 4, 5 HAVING 1
ON CONFLICT (hour, role, model, key_id, variant) DO UPDATE SET
  calls = calls + excluded.calls, errors = errors + excluded.errors,
  input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
  cost_usd = cost_usd + excluded.cost_usd, latency_ms = latency_ms + excluded.latency_ms
"""


def cache_path(ledger: Path) -> Path:
    from tierflow.local_models import tierflow_home

    digest = hashlib.sha256(str(ledger.resolve()).encode()).hexdigest()[:20]
    return tierflow_home() / "cache" / "ledger-rollups" / f"{digest}.sqlite"


def refreshed(ledger: Path, cache: Path | None = None) -> sqlite3.Connection:
    """A connection to the rollup of ``ledger``, brought up to date (the ledger attached read-only as ``l``)."""
    cache = cache or cache_path(ledger)
    cache.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(cache), isolation_level=None)
    conn.executescript(_SCHEMA)
    conn.execute("ATTACH DATABASE ? AS l", (f"file:{ledger}?mode=ro",))
    total, last = conn.execute("SELECT COUNT(*), IFNULL(MAX(rowid), 0) FROM l.requests").fetchone()
    meta = conn.execute("SELECT ledger, last_rowid, rows FROM meta").fetchone()
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = 0
        if meta is not None and meta[0] == str(ledger.resolve()) and meta[1] <= last:
            new = conn.execute("SELECT COUNT(*) FROM l.requests WHERE rowid > ?", (meta[1],)).fetchone()[0]
            if meta[2] + new == total:
                start = meta[1]
        if start == 0:
            conn.execute("DELETE FROM rollup")
        conn.execute(_FOLD, (start, last))
        conn.execute("DELETE FROM meta")
        conn.execute("INSERT INTO meta VALUES (?, ?, ?)", (str(ledger.resolve()), last, total))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return conn


__all__ = ["cache_path", "refreshed"]
