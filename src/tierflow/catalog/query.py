"""Read-only SQL over the catalog: exactly one SELECT (or WITH ... SELECT), nothing else.

The guard is DuckDB itself, not string matching: the database is opened ``read_only`` with
``enable_external_access=false`` (no file-reading table functions, COPY, ATTACH, INSTALL/LOAD)
and a locked configuration (no SET), and DuckDB's own parser must find a single statement of
type SELECT. A query the database rejects is reported with its message plus the tables and
columns that exist, so the user can fix it in one go. A query runs for at most
:data:`DEFAULT_TIMEOUT_S` seconds (``timeout_s``; ``tierflow models query --timeout``): DuckDB is
interrupted then, and the error says how to allow more.

Before the catalog is opened, :func:`ensure_catalog` rebuilds it when it is missing, damaged or
built from other sources than those installed now (:mod:`tierflow.catalog.freshness`).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierflow.catalog.sources import default_catalog_path
from tierflow.errors import CatalogError, Problem

DEFAULT_TIMEOUT_S = 30.0
READ_ONLY_CONFIG = {"enable_external_access": False, "autoload_known_extensions": False,
                     "autoinstall_known_extensions": False, "lock_configuration": True}


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as ``{column: value}`` dicts."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def open_read_only(path: Path) -> Any:
    """A read-only DuckDB connection to ``path`` with external access disabled (may raise duckdb.Error)."""
    import duckdb

    return duckdb.connect(str(path), read_only=True, config=dict(READ_ONLY_CONFIG))


def _rebuild(target: Path, reason: str, recipe: Any) -> None:
    from tierflow.catalog.build import build_catalog

    print(f"building the model catalog at {target} ({reason})...", file=sys.stderr)
    report = build_catalog(recipe.folder if recipe.folder_from == "option" else None, out=target,
                           overrides=recipe.overrides, use_genai_prices=recipe.use_genai_prices)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def ensure_catalog(path: Path | str | None = None) -> Path:
    """The catalog file, (re)built first when it is missing, damaged or out of date with its sources."""
    from tierflow.catalog.freshness import stale_reason

    target = Path(path) if path else default_catalog_path()
    reason, recipe = stale_reason(target)
    if reason is not None:
        _rebuild(target, reason, recipe)
    return target


def connect(path: Path | str | None = None) -> Any:
    """A read-only connection to the catalog (external access disabled), checked and rebuilt first if stale."""
    import duckdb

    from tierflow.catalog.freshness import stale_reason

    target = Path(path) if path else default_catalog_path()
    try:
        con = open_read_only(target) if target.is_file() else None
    except duckdb.Error:
        con = None  # stale_reason opens it again and says what is wrong with it
    reason, recipe = stale_reason(target, con)
    if reason is None and con is not None:
        return con
    if con is not None:
        con.close()
    if reason is not None:
        _rebuild(target, reason, recipe)
    try:
        return open_read_only(target)
    except duckdb.Error as exc:
        raise CatalogError([Problem(str(target), f"cannot open the catalog: {exc}. Rebuild it with "
                                                 "`tierflow models refresh`.")]) from exc


def schema(con: Any) -> dict[str, list[str]]:
    """``{table: [column, ...]}`` of the catalog."""
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _schema_hint(con: Any) -> str:
    return "available tables and columns:\n" + "\n".join(
        f"    {t}({', '.join(cols)})" for t, cols in schema(con).items())


def check_select(con: Any, sql: str) -> None:
    """Raise :class:`CatalogError` unless ``sql`` is exactly one SELECT statement."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise CatalogError([Problem("query", f"{exc}\n  {_schema_hint(con)}")]) from None
    if len(statements) != 1:
        raise CatalogError([Problem("query", f"expected exactly one SELECT statement, got {len(statements)}")])
    kind = statements[0].type
    name = getattr(kind, "name", str(kind))
    if kind == duckdb.StatementType.SELECT and sql.lstrip(" \t\r\n(").upper().startswith("PRAGMA"):
        kind, name = None, "PRAGMA"  # DuckDB before 2.0 types `PRAGMA name` (a table function) as SELECT
    if kind != duckdb.StatementType.SELECT:
        raise CatalogError([Problem("query", f"only SELECT (or WITH ... SELECT) is allowed, got {name}; "
                                             "the catalog is read-only")])


def run_query(sql: str, *, path: Path | str | None = None, con: Any = None,
              timeout_s: float | None = DEFAULT_TIMEOUT_S) -> QueryResult:
    """Run one read-only SELECT over the catalog and return its rows.

    ``timeout_s`` bounds the query's run time (None: no bound); past it DuckDB is interrupted and
    :class:`CatalogError` says so.
    """
    import duckdb

    own = con is None
    con = con if con is not None else connect(path)
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s is not None else None
    try:
        check_select(con, sql)
        if timer is not None:
            timer.start()
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            return QueryResult(columns, cur.fetchall())
        except duckdb.InterruptException:
            raise CatalogError([Problem("query", f"stopped after {timeout_s:g} s: the query runs too long; narrow "
                                                 "it (a WHERE, a LIMIT, fewer joins) or allow more time with "
                                                 "--timeout SECONDS")]) from None
        except duckdb.Error as exc:
            raise CatalogError([Problem("query", f"{exc}\n  {_schema_hint(con)}")]) from None
    finally:
        if timer is not None:
            timer.cancel()
        if own:
            con.close()


__all__ = ["DEFAULT_TIMEOUT_S", "QueryResult", "check_select", "connect", "ensure_catalog", "open_read_only",
           "run_query", "schema"]
