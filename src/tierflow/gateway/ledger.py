"""The ledger: every chat request and each of its attempts, appended to a local SQLite file (WAL).

A request's row is appended once its response's last byte has been sent (or the client went
away). Rows are committed in groups by one writer thread: a row reaches the file at most
``commit_interval_s`` (default 0.2 s) plus one commit after it was appended, so a crash of the
process loses at most that window, and never leaves a half-written row (each group is one
transaction). ``synchronous=NORMAL`` in WAL mode survives a process crash; a power loss may also
lose the last commits. A clean stop (SIGTERM) writes everything.

Tables (docs/gateway.md, "The ledger"): ``requests`` (one row per chat request, with what it was
charged against its key's budget), ``attempts`` (one per try of a target), ``feedback`` (scores
posted for requests), and ``keys`` (the virtual keys, hashed: :mod:`tierflow.gateway.keys`).
Messages and answers are stored only when the config says ``store_content: true``.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierflow.gateway.exchange import Exchange, decision_of
from tierflow.pricing import recorded_cost

_log = logging.getLogger("tierflow.gateway")
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
  request_id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT, client_request_id TEXT, user TEXT,
  requested TEXT, role TEXT, model TEXT, provider TEXT, stream INTEGER NOT NULL, status INTEGER NOT NULL,
  outcome TEXT NOT NULL, error_code TEXT, input_tokens INTEGER, output_tokens INTEGER, cached_tokens INTEGER,
  reasoning_tokens INTEGER, cost_usd REAL, latency_ms REAL NOT NULL, ttft_ms REAL, attempts INTEGER NOT NULL,
  decision TEXT, variant TEXT, messages TEXT, answer TEXT, charged_usd REAL);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests (key_id, ts);
CREATE TABLE IF NOT EXISTS attempts (
  request_id TEXT NOT NULL, n INTEGER NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT,
  status_code INTEGER, wait_s REAL, duration_s REAL, PRIMARY KEY (request_id, n));
CREATE TABLE IF NOT EXISTS feedback (
  request_id TEXT NOT NULL, ts REAL NOT NULL, key_id TEXT, score REAL NOT NULL, label TEXT);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id);
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created REAL NOT NULL, revoked REAL,
  roles TEXT, rpm INTEGER, tpm INTEGER, usd_per_day REAL, usd_per_month REAL);
"""
_REQUEST_SQL = f"INSERT OR REPLACE INTO requests VALUES ({', '.join('?' * 26)})"
_ATTEMPT_SQL = "INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_FEEDBACK_SQL = "INSERT INTO feedback VALUES (?, ?, ?, ?, ?)"


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection to the gateway database in WAL mode, its tables created (folders too)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(_SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


@dataclass(slots=True)
class _Rows:
    request: tuple[Any, ...] | None = None
    attempts: list[tuple[Any, ...]] | None = None
    feedback: tuple[Any, ...] | None = None


def _request_rows(ex: Exchange, store_content: bool, now: float) -> _Rows:
    result, call = ex.result, ex.call
    usage = result.usage if result is not None else None
    answer = result.text if result is not None else ex.text
    messages = json.dumps(call.messages, ensure_ascii=False) if store_content and call is not None else None
    decision = decision_of(result.decision) if result is not None else None
    request = (ex.request_id, time.time() - (now - ex.started), ex.key_id, ex.client_request_id,
               call.user if call else None, call.model if call else None, ex.name if ex.is_role else None,
               ex.model, result.provider if result else (ex.model.partition("/")[0] if ex.model else None),
               int(bool(call and call.stream)), ex.status, ex.outcome, ex.error_code,
               usage.input_tokens if usage else None, usage.output_tokens if usage else None,
               usage.cached_tokens if usage else None, usage.reasoning_tokens if usage else None,
               None if result is None and ex.text else recorded_cost(result.cost_usd if result else None, usage),
               (now - ex.started) * 1000.0,
               None if ex.ttft_s is None else ex.ttft_s * 1000.0, len(ex.attempts),
               json.dumps(decision) if decision else None, ex.variant, messages,
               answer if store_content else None, ex.charged_usd)
    attempts = [(ex.request_id, i, a.target, a.outcome, a.error, a.status_code, a.wait_s, a.duration_s)
                for i, a in enumerate(ex.attempts)]
    return _Rows(request=request, attempts=attempts)


class Ledger:
    """Appends rows from the event loop; one writer thread commits them in groups."""

    def __init__(self, path: str | Path, *, commit_interval_s: float = 0.2, store_content: bool = False) -> None:
        self.path = Path(path)
        self.commit_interval_s = commit_interval_s
        self.store_content = store_content
        self._queue: queue.SimpleQueue[_Rows | None] = queue.SimpleQueue()
        self._pending: dict[str, str | None] = {}  # request id -> key id, appended but not committed yet
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._conn = connect(self.path)
        self._reader = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        self._thread = threading.Thread(target=self._write_loop, name="tierflow-ledger", daemon=True)
        self._thread.start()

    def append(self, exchange: Exchange) -> None:
        """Queue ``exchange``'s rows (call when its response's last byte has been sent)."""
        rows = _request_rows(exchange, self.store_content, time.perf_counter())
        with self._lock:
            self._pending[exchange.request_id] = exchange.key_id
        self._queue.put(rows)

    def append_rows(self, request: tuple[Any, ...], attempts: list[tuple[Any, ...]]) -> None:
        """Queue one ``requests`` row and its ``attempts`` rows as built elsewhere (the library's
        :class:`tierflow.tracing.LedgerTracer`); the columns are the tables' (``_SCHEMA``)."""
        self._queue.put(_Rows(request=request, attempts=attempts))

    def add_feedback(self, request_id: str, key_id: str | None, score: float, label: str | None) -> None:
        self._queue.put(_Rows(feedback=(request_id, time.time(), key_id, score, label)))

    def owner(self, request_id: str) -> tuple[bool, str | None]:
        """(known, key id) of a request, committed or still pending (blocking: call it off the loop)."""
        with self._lock:  # also guards the reader connection, used from worker threads
            if request_id in self._pending:
                return True, self._pending[request_id]
            row = self._reader.execute("SELECT key_id FROM requests WHERE request_id = ?",
                                       (request_id,)).fetchone()
        return (row is not None, row[0] if row else None)

    def close(self) -> None:
        """Write everything queued, then close (safe to call twice)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._closing.set()
            self._thread.join()
        self._reader.close()

    def _write_loop(self) -> None:
        conn = self._conn
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            # let the window's rows gather, then take them all: one wake-up of this thread per group,
            # not one per row (each wake-up takes the GIL from the event loop); close() cuts it short
            self._closing.wait(self.commit_interval_s)
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(conn, batch)
        conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Rows]) -> None:
        try:
            conn.execute("BEGIN")
            conn.executemany(_REQUEST_SQL, [r.request for r in batch if r.request is not None])
            conn.executemany(_ATTEMPT_SQL, [a for r in batch if r.attempts for a in r.attempts])
            conn.executemany(_FEEDBACK_SQL, [r.feedback for r in batch if r.feedback is not None])
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # a full disk, a locked file: say so, keep serving, keep writing later rows
            _log.error("ledger %s: %d row group(s) could not be written (%s: %s)", self.path, len(batch),
                       type(exc).__name__, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        with self._lock:
            for r in batch:
                if r.request is not None:
                    self._pending.pop(r.request[0], None)


__all__ = ["Ledger", "connect", "SCHEMA_VERSION"]
