"""The model picker's data (seed 001): catalog models grouped by slug prefix.

``{"openai/": [{"slug", "display_name", "context_window"}, ...], "anthropic/": [...]}``: what
``tierflow models catalog --group-by prefix`` prints and a future web editor would show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def group_by_prefix(*, path: Path | str | None = None, con: Any = None, priced_only: bool = False,
                    prefix: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Catalog models grouped by slug prefix (``"openai/"``), each group sorted by display name.

    ``priced_only`` keeps models with a known price; ``prefix`` keeps one group (``openai`` or
    ``openai/``).
    """
    from tierflow.catalog.query import connect

    where, params = [], []
    if priced_only:
        where.append("price IS NOT NULL")
    if prefix:
        where.append("provider = ?")
        params.append(prefix.rstrip("/"))
    sql = ("SELECT provider, slug, name, context_window FROM llms"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY provider, lower(name), slug")
    own = con is None
    con = con if con is not None else connect(path)
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        if own:
            con.close()
    groups: dict[str, list[dict[str, Any]]] = {}
    for provider, slug, name, ctx in rows:
        groups.setdefault(f"{provider}/", []).append({"slug": slug, "display_name": name, "context_window": ctx})
    return groups


__all__ = ["group_by_prefix"]
