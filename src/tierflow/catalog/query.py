"""Read-only SQL over the catalog: exactly one SELECT (or WITH ... SELECT), nothing else.

The guard is DuckDB itself, not string matching: the database is opened ``read_only`` with
``enable_external_access=false`` (no file-reading table functions, COPY, ATTACH, INSTALL/LOAD)
and a locked configuration (no SET), and DuckDB's own parser must find a single statement of
type SELECT. A query the database rejects is reported with its message plus the tables and
columns that exist, so the user can fix it in one go.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierflow.catalog.sources import default_catalog_path
from tierflow.errors import CatalogError, Problem

_READ_ONLY_CONFIG = {"enable_external_access": False, "autoload_known_extensions": False,
                     "autoinstall_known_extensions": False, "lock_configuration": True}


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as ``{column: value}`` dicts."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def ensure_catalog(path: Path | str | None = None) -> Path:
    """The catalog file, built first (from the default data directory) if it does not exist yet."""
    target = Path(path) if path else default_catalog_path()
    if not target.is_file():
        from tierflow.catalog.build import build_catalog

        print(f"building the model catalog at {target} (first use)...", file=sys.stderr)
        build_catalog(out=target)
    return target


def connect(path: Path | str | None = None) -> Any:
    """A read-only DuckDB connection to the catalog with external access disabled."""
    import duckdb

    target = ensure_catalog(path)
    try:
        return duckdb.connect(str(target), read_only=True, config=dict(_READ_ONLY_CONFIG))
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
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise CatalogError([Problem("query", f"only SELECT (or WITH ... SELECT) is allowed, got {name}; "
                                             "the catalog is read-only")])


def run_query(sql: str, *, path: Path | str | None = None, con: Any = None) -> QueryResult:
    """Run one read-only SELECT over the catalog and return its rows."""
    import duckdb

    own = con is None
    con = con if con is not None else connect(path)
    try:
        check_select(con, sql)
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description or []]
            return QueryResult(columns, cur.fetchall())
        except duckdb.Error as exc:
            raise CatalogError([Problem("query", f"{exc}\n  {_schema_hint(con)}")]) from None
    finally:
        if own:
            con.close()


__all__ = ["QueryResult", "check_select", "connect", "ensure_catalog", "run_query", "schema"]
