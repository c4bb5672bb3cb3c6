"""The runs, cost, keys and routers views: read-only queries over the gateway's ledger (docs/console.md).

Pages are keyset-paged (``ts, request_id`` descending, never ``OFFSET``), so page 1,000 costs what
page 1 costs; the indexes below make every filter (role, model, key, status, time) a range scan.
They are created once, at the first query (``IF NOT EXISTS``; half a minute on a million-row
ledger), with the cost view's hourly roll-ups; the console starts that work when it starts.
Measured by ``bench/bench_console_ledger.py``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tierflow.console.cost_rollup import SUMS, cost_rows, roll_up
from tierflow.errors import GatewayError
from tierflow.gateway.ledger import connect

INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS console_requests_{name} ON requests ({columns}ts, request_id)"
    for name, columns in (("ts", ""), ("role", "role, "), ("model", "model, "), ("status", "status, "),
                          ("key", "key_id, "), ("outcome", "outcome, ")))
"""Each filter, then the page order: a filtered page is read straight off one index, unsorted."""
PAGE_MAX = 200
ROUTED_SQL = ("SELECT json_extract(decision, '$.chosen') AS chosen, COUNT(*), COUNT(cost_usd), "
              "COALESCE(SUM(cost_usd), 0) FROM requests WHERE role = ? AND ts >= ? GROUP BY chosen")
"""A routed role's requests since a time, per chosen candidate (read off ``console_requests_role``)."""
_LIST_COLUMNS = ("request_id", "ts", "key_id", "requested", "role", "model", "provider", "stream", "status",
                 "outcome", "error_code", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "attempts")
_BUCKETS = {"hour": 3600, "day": 86400}
_GROUPS = {"role": "role", "model": "model", "key": "key_id"}


class LedgerViews:
    """Queries on one gateway database (one connection, used by one thread at a time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path)
            for sql in INDEXES:
                self._conn.execute(sql)
            roll_up(self._conn)
        return self._conn

    def warm(self) -> None:
        """Create the indexes and roll up the cost hours now (the console calls it when it starts)."""
        with self._lock:
            self._db()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def runs(self, query: Mapping[str, str], *, key_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """One page of requests, newest first, filtered; ``next`` is the cursor of the following page.

        ``key_ids``: the requests of any of these keys (what a key's name stands for), instead of ``key``."""
        where, params = _filters({k: v for k, v in query.items() if k != "key"} if key_ids is not None else query)
        if key_ids is not None:
            where.append(f"key_id IN ({', '.join('?' * len(key_ids))})")
            params += list(key_ids)
        limit = _int(query, "limit", 50, 1, PAGE_MAX)
        cursor = query.get("before")
        if cursor:
            ts, _, rid = cursor.partition(",")
            where.append("(ts < ? OR (ts = ? AND request_id < ?))")
            params += [_float(ts, "before"), _float(ts, "before"), rid]
        sql = (f"SELECT {', '.join(_LIST_COLUMNS)} FROM requests"
               + (f" WHERE {' AND '.join(where)}" if where else "")
               + " ORDER BY ts DESC, request_id DESC LIMIT ?")
        with self._lock:
            rows = self._db().execute(sql, [*params, limit + 1]).fetchall()
        items = [dict(zip(_LIST_COLUMNS, r)) for r in rows[:limit]]
        more = len(rows) > limit
        return {"data": items, "next": f"{items[-1]['ts']!r},{items[-1]['request_id']}" if more else None}

    def run(self, request_id: str) -> dict[str, Any]:
        """A request with its attempts, route decision and (when stored) messages and answer."""
        with self._lock:
            db = self._db()
            cur = db.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,))
            row = cur.fetchone()
            if row is None:
                raise GatewayError(404, f"no request {request_id!r} in the ledger", code="request_not_found")
            names = [d[0] for d in cur.description]
            attempts = db.execute("SELECT n, target, outcome, error, status_code, wait_s, duration_s FROM attempts "
                                  "WHERE request_id = ? ORDER BY n", (request_id,)).fetchall()
        out = dict(zip(names, row))
        for key in ("decision", "messages"):
            if out.get(key):
                try:
                    out[key] = json.loads(out[key])
                except ValueError:
                    pass
        out["attempt_rows"] = [dict(zip(("n", "target", "outcome", "error", "status_code", "wait_s", "duration_s"), a))
                               for a in attempts]
        return out

    def cost(self, query: Mapping[str, str]) -> dict[str, Any]:
        """Calls and cost per time bucket and group (role, model or key) over a window (default 7 days).

        Without other filters it reads the hourly roll-ups (:mod:`tierflow.console.cost_rollup`);
        with a filter or an end (``until``), the requests themselves."""
        by = query.get("by", "role")
        if by not in _GROUPS:
            raise GatewayError(400, f"'by' must be one of {sorted(_GROUPS)}", param="by", code="invalid_value")
        bucket = query.get("bucket", "day")
        if bucket not in _BUCKETS:
            raise GatewayError(400, f"'bucket' must be one of {sorted(_BUCKETS)}", param="bucket", code="invalid_value")
        q = dict(query)
        q.setdefault("since", str(time.time() - 7 * 86400))
        where, params = _filters(q)
        size = _BUCKETS[bucket]
        with self._lock:
            if len(where) == 1:  # the window's start alone
                rows = cost_rows(self._db(), by, size, float(params[0]))
            else:
                sql = (f"SELECT CAST(ts / {size} AS INTEGER) * {size} AS b, {_GROUPS[by]} AS g, {SUMS} FROM requests"
                       f" WHERE {' AND '.join(where)} GROUP BY b, g ORDER BY b, g")
                rows = self._db().execute(sql, params).fetchall()
        return {"by": by, "bucket": bucket, "data": [
            {"bucket": b, "group": g, "calls": n, "cost_usd": c or 0.0, "unpriced_calls": u, "tokens": t}
            for b, g, n, c, u, t in rows]}

    def routed(self, role: str, since: float) -> dict[str, Any]:
        """A routed role's requests since ``since``: how many, mean cost per priced request, and how
        often each candidate was chosen (the decision the ledger stores; read off the role's index)."""
        with self._lock:
            rows = self._db().execute(ROUTED_SQL, (role, since)).fetchall()
        calls = sum(r[1] for r in rows)
        priced = sum(r[2] for r in rows)
        cost = sum(r[3] for r in rows)
        chosen = sorted(({"role": c, "calls": n} for c, n, _, _ in rows), key=lambda r: (-r["calls"], str(r["role"])))
        return {"since": since, "requests": calls, "priced_requests": priced, "cost_usd": cost,
                "mean_cost_usd": cost / priced if priced else None, "chosen": chosen}


def _filters(query: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for field, column in (("role", "role"), ("model", "model"), ("key", "key_id"), ("outcome", "outcome")):
        if query.get(field):
            where.append(f"{column} = ?")
            params.append(query[field])
    if query.get("status"):
        where.append("status = ?")
        params.append(_int(query, "status", 0, 100, 599))
    if query.get("since"):
        where.append("ts >= ?")
        params.append(_float(query["since"], "since"))
    if query.get("until"):
        where.append("ts < ?")
        params.append(_float(query["until"], "until"))
    return where, params


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise GatewayError(400, f"'{name}' must be a whole number from {low} to {high}", param=name,
                           code="invalid_value")
    return value


def _float(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise GatewayError(400, f"'{name}' must be a Unix time in seconds", param=name, code="invalid_value") from None


__all__ = ["INDEXES", "PAGE_MAX", "ROUTED_SQL", "LedgerViews"]
