"""Cost reports over a ledger: totals by role, model, key, variant or day, and the series to plot.

Reports read an hourly rollup of the ledger (:mod:`tierflow.tracing._rollup`) that each report
first brings up to date with the rows appended since the last one, so a report over a million-row
ledger takes one pass the first time and a fraction of a second after that
(``bench/bench_cost_report.py``; figures in docs/tracing.md). DuckDB could read SQLite, but its
SQLite extension is downloaded at run time, which offline machines cannot do. ``--since`` counts
from the start of its hour.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierflow.errors import LedgerError

BY = {"role": "role", "model": "model", "key": "key_id", "variant": "variant", "day": None}
"""``--by`` -> the rollup column grouped on (docs/tracing.md, "Cost reports")."""
_RELATIVE = re.compile(r"^(\d+)\s*([hdw])$")


@dataclass(slots=True)
class Row:
    """Totals of one group."""

    key: str
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms_sum: float = 0.0

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_ms_sum / self.calls if self.calls else 0.0


@dataclass(slots=True)
class Report:
    """What ``tierflow cost report`` prints: rows by key, totals, and per-bucket series for the plot."""

    ledger: str
    by: str
    since: float | None
    bucket: str
    rows: list[Row] = field(default_factory=list)
    series: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)
    """key -> bucket start (ISO) -> (calls, cost)."""

    @property
    def total(self) -> Row:
        t = Row("total")
        for r in self.rows:
            t.calls += r.calls
            t.errors += r.errors
            t.input_tokens += r.input_tokens
            t.output_tokens += r.output_tokens
            t.cost_usd += r.cost_usd
            t.latency_ms_sum += r.latency_ms_sum
        return t

    def to_json(self) -> dict[str, Any]:
        def row(r: Row) -> dict[str, Any]:
            d = asdict(r)
            d.pop("latency_ms_sum")
            d["mean_latency_ms"] = round(r.mean_latency_ms, 3)
            return d
        return {"ledger": self.ledger, "by": self.by, "since": _iso(self.since) if self.since else None,
                "bucket": self.bucket, "rows": [row(r) for r in self.rows], "total": row(self.total),
                "series": {k: [{"start": b, "calls": c, "cost_usd": v} for b, (c, v) in s.items()]
                           for k, s in self.series.items()}}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``7d``, ``24h``, ``2w`` (ago), or an ISO date/time (UTC unless it says otherwise) -> epoch seconds."""
    if not text:
        return None
    now = time.time() if now is None else now
    m = _RELATIVE.match(text.strip().lower())
    if m:
        return now - int(m.group(1)) * {"h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LedgerError(f"--since {text!r}: expected a date (2026-01-31), a date and time "
                          "(2026-01-31T12:00), or a span ago (24h, 7d, 2w)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _open(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LedgerError(f"ledger {str(path)!r} does not exist (name one with --ledger, or enable the ledger: "
                          "docs/tracing.md)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"ledger {str(path)!r} is damaged or not a SQLite database ({exc}); "
                          "name a tierflow ledger file") from None
    if "requests" not in tables:
        conn.close()
        raise LedgerError(f"ledger {str(path)!r} has no 'requests' table: not a tierflow ledger")
    return conn


def cost_report(path: str | Path, *, by: str = "model", since: float | None = None,
                cache: Path | None = None) -> Report:
    """Totals of the ledger at ``path`` grouped ``by`` one of :data:`BY`, from the hour of ``since``
    (epoch s) on. The ledger is read through an hourly rollup cached per ledger (``cache``: its file;
    default under ``$TIERFLOW_HOME/cache``), which each report brings up to date first."""
    from tierflow.tracing._rollup import refreshed

    if by not in BY:
        raise LedgerError(f"--by {by!r}: expected one of {', '.join(BY)}")
    path = Path(path)
    _open(path).close()  # a missing, damaged or foreign file is refused by name first
    since_hour = int(since // 3600) if since else 0
    try:
        conn = refreshed(path, cache)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"ledger {str(path)!r} could not be read ({exc}); it may be damaged") from None
    try:
        lo, hi = conn.execute("SELECT MIN(hour), MAX(hour) FROM rollup WHERE hour >= ?", (since_hour,)).fetchone()
        report = Report(str(path), by, since, "day")
        if lo is None:
            return report
        width = 24 if hi - lo > 48 or by == "day" else 1
        report.bucket = "day" if width == 24 else "hour"
        key_sql = BY[by] or "''"
        rows = conn.execute(f"SELECT hour / {width} AS b, {key_sql} AS k, SUM(calls), SUM(errors), "
                            "SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), SUM(latency_ms) FROM rollup "
                            "WHERE hour >= ? GROUP BY b, k", (since_hour,)).fetchall()
    finally:
        conn.close()
    _fold(report, rows, width * 3600)
    return report


def _fold(report: Report, rows: list[tuple[Any, ...]], width: int) -> None:
    groups: dict[str, Row] = {}
    for b, k, calls, errors, tin, tout, cost, latency in rows:
        start = _iso(b * width)
        key = start[:10] if report.by == "day" else ("(none)" if not k else str(k))
        g = groups.get(key)
        if g is None:
            g = groups[key] = Row(key)
        g.calls += calls
        g.errors += errors or 0
        g.input_tokens += tin or 0
        g.output_tokens += tout or 0
        g.cost_usd += cost or 0.0
        g.latency_ms_sum += latency or 0.0
        series = report.series.setdefault(key, {})
        c0, v0 = series.get(start, (0, 0.0))
        series[start] = (c0 + calls, v0 + (cost or 0.0))
    order = sorted(groups.values(), key=lambda r: r.key) if report.by == "day" else sorted(
        groups.values(), key=lambda r: (-r.cost_usd, -r.calls, r.key))
    report.rows = order
    report.series = {k: dict(sorted(report.series[k].items())) for k in (r.key for r in order)}


__all__ = ["BY", "Report", "Row", "cost_report", "parse_since"]
