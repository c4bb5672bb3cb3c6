"""The model picker's data (README, Model catalog): catalog models grouped by slug prefix, and the "Custom" pair.

``{"openai/": [{"slug", "display_name", "context_window"}, ...], "anthropic/": [...]}``: what
``tierflow models catalog --group-by prefix`` prints and a future web editor would show.

A registry entry whose model the catalog lacks (a legacy or partner slug) is shown as a "Custom"
selection: a free-text ``ref`` + ``model`` pair (:class:`PickerSelection`). Switching between the
catalog and custom modes keeps both values, so an entry is never rewritten just by being looked
at; ``tierflow models pick --write-role ROLE --ref REF --model MODEL`` writes such a pair.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tierflow.catalog.roles import REF_ALIASES

PickerMode = Literal["catalog", "custom"]


@dataclass(frozen=True, slots=True)
class PickerSelection:
    """What the picker shows for one registry entry.

    ``slug`` is the catalog slug the pair matches (None when the catalog lacks it); ``mode`` is
    which half of the picker is open. ``ref`` and ``model`` are always the entry's own values.
    """

    mode: PickerMode
    ref: str
    model: str
    slug: str | None

    def switch(self, mode: PickerMode) -> PickerSelection:
        """The same selection with the other half of the picker open; ``ref`` and ``model`` kept."""
        return replace(self, mode=mode)

    def entry(self) -> dict[str, str]:
        """The ``{ref, model}`` pair to write: unchanged by any switching."""
        return {"ref": self.ref, "model": self.model}


def catalog_slug(ref: str, model: str, catalog_slugs: Collection[str]) -> str | None:
    """The catalog slug of a ``ref`` + ``model`` pair (``gemini`` is the catalog's ``google``), or None."""
    candidates = [f"{ref}/{model}"] + [f"{prefix}/{model}" for prefix, alias in REF_ALIASES.items() if alias == ref]
    return next((c for c in candidates if c in catalog_slugs), None)


def selection_for(entry: Mapping[str, Any], catalog_slugs: Collection[str]) -> PickerSelection:
    """The picker's state for a registry entry: catalog mode when the catalog has it, else Custom."""
    ref, model = str(entry.get("ref") or ""), str(entry.get("model") or "")
    slug = catalog_slug(ref, model, catalog_slugs)
    return PickerSelection("catalog" if slug else "custom", ref, model, slug)


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


__all__ = ["PickerMode", "PickerSelection", "catalog_slug", "group_by_prefix", "selection_for"]
