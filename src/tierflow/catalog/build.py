"""Build the DuckDB catalog: raw source tables, the merged ``llms`` table, ``sources`` and ``build_info``.

``build_catalog()`` reads the catalog's sources (the shipped ones, or an override folder's: see
:mod:`tierflow.catalog.sources`) and the ``genai-prices`` package, merges them per model
(:mod:`tierflow.catalog.merge`), applies user overrides (:mod:`tierflow.catalog.overrides`),
records what it was built from (:mod:`tierflow.catalog.freshness`) and writes everything to a new
database file that replaces the old one atomically, so a failed build never leaves a broken
catalog behind. The report says what changed since the previous build.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierflow._files import atomic_path
from tierflow.catalog import naming, raw
from tierflow.catalog.changes import CatalogChanges, diff, read_prices
from tierflow.catalog.freshness import BUILD_INFO_SCHEMA, Recipe, build_info_rows, fingerprint, genai_prices_version
from tierflow.catalog.merge import LLMS_SCHEMA, LOCAL_MODELS, NOT_CHAT, Merger, blend, local_models
from tierflow.catalog.sources import (
    COLUMN_PROVENANCE,
    DATA_ENV,
    ResolvedSource,
    default_catalog_path,
    find_data_dir,
    resolve_sources,
)
from tierflow.errors import CatalogError, Problem

SOURCES_SCHEMA = {"column_name": "VARCHAR", "sources": "VARCHAR", "derivation": "VARCHAR", "as_of": "VARCHAR"}
SOURCE_FILES_SCHEMA = {"source": "VARCHAR", "origin": "VARCHAR", "path": "VARCHAR", "license": "VARCHAR",
                       "as_of": "VARCHAR", "rows": "BIGINT", "description": "VARCHAR", "sha256": "VARCHAR"}
_Tables = dict[str, tuple[dict[str, str], list[dict[str, Any]]]]


@dataclass
class BuildReport:
    """What a build wrote: the file, rows per table, the sources used, what changed, anything skipped."""

    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # source -> as-of
    origins: dict[str, str] = field(default_factory=dict)  # source -> package / snapshot / folder
    warnings: list[str] = field(default_factory=list)
    changes: CatalogChanges | None = None  # None on a first build


def _write_table(con: Any, name: str, schema: dict[str, str], rows: list[dict[str, Any]], tmp: Path) -> int:
    cols = ", ".join(f"{c} {t}" for c, t in schema.items())
    if not rows:
        con.execute(f"CREATE TABLE {name} ({cols})")
        return 0
    path = tmp / f"{name}.ndjson"
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({c: r.get(c) for c in schema}, default=str) + "\n")
    spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in schema.items()) + "}"
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_json(?, format='newline_delimited', "
                f"columns={spec})", [str(path)])
    return len(rows)


def _recipe(data_dir: Path | str | None, overrides: Sequence[Path | str], use_genai_prices: bool) -> Recipe:
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            raise CatalogError([Problem(str(folder), "catalog data folder not found (expected a folder laid out "
                                                     "like tryaii_starter_catalog/, arena_leaderboard/, "
                                                     "models_dev/, litellm/; leave it out to use the shipped data)")])
        return Recipe(folder, "option", tuple(Path(f) for f in overrides), use_genai_prices)
    found = find_data_dir()
    return Recipe(found, "env" if found else "", tuple(Path(f) for f in overrides), use_genai_prices)


def _read_sources(resolved: list[ResolvedSource], merger: Merger, tables: _Tables,
                  report: BuildReport) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Read every resolved source into ``tables`` and ``merger``; (LiteLLM rows by key, source_files rows)."""
    litellm: dict[str, dict[str, Any]] = {}
    file_rows: list[dict[str, Any]] = []
    for r in resolved:
        name = r.source.name
        if name == "tryaii":
            rows, scores, as_of = raw.read_tryaii(r.path)
            tables["raw_tryaii_scores"] = (raw.RAW_SCHEMAS["raw_tryaii_scores"], scores)
            merger.tryaii(rows, scores)
        elif name == "models_dev":
            rows, as_of = raw.read_models_dev(r.path)
            merger.models_dev(rows)
        elif name == "arena":
            rows, as_of = raw.read_arena(r.path)
            merger.arena(rows)
        else:
            rows, as_of = raw.read_litellm(r.path)
            litellm = {row["model_key"]: row for row in rows}
            as_of = as_of if not r.version else f"{r.source.package} {r.version}"  # no date inside the file
        tables[f"raw_{name}"] = (raw.RAW_SCHEMAS[f"raw_{name}"], rows)
        report.sources[name] = as_of
        report.origins[name] = r.origin
        file_rows.append({"source": name, "origin": r.origin, "path": str(r.path), "license": r.source.license,
                          "as_of": as_of, "rows": len(rows), "description": r.source.description,
                          "sha256": r.fingerprint().rpartition("sha256 ")[2]})
    return litellm, file_rows


def _read_genai_prices(merger: Merger, tables: _Tables, report: BuildReport) -> dict[str, Any]:
    gp_rows = [row for _, _, row in raw.iter_genai_prices()]
    tables["raw_genai_prices"] = (raw.RAW_SCHEMAS["raw_genai_prices"], gp_rows)
    version = genai_prices_version()
    report.sources["genai-prices"] = version
    report.origins["genai-prices"] = f"package {version}"
    if not merger.records:  # no data files at all: list the makers' own models priced by the package
        for row in gp_rows:
            if row["provider"] in ("openai", "anthropic", "google", "mistral", "deepseek", "x-ai") \
                    and not NOT_CHAT.search(row["model_id"]):
                key = naming.model_key(row["model_id"])
                merger.add(key, naming.provider_of(row["provider"]), row["model_id"], "genai-prices",
                           name=row["name"], context_window=row["context_window"])
                merger._price(key, "genai-prices", row["input_mtok"], row["output_mtok"])
    return {"source": "genai-prices", "origin": f"package {version}", "path": "python package genai_prices",
            "license": "MIT", "as_of": version, "rows": len(gp_rows), "description": "maintained LLM price data",
            "sha256": ""}


def _final_rows(merger: Merger) -> list[dict[str, Any]]:
    """The merged records with their API ids and slugs settled."""
    llms = list(merger.records.values())
    taken = {f"{r['provider']}/{r['model']}" for r in llms}
    for key, api_id in merger.api_ids.items():  # tryaii's 'claude-opus-4.8' -> the API's 'claude-opus-4-8'
        rec = merger.records[key]
        if f"{rec['provider']}/{api_id}" not in taken:
            rec["name"] = rec["name"] or rec["model"]
            rec["model"] = api_id
            taken.add(f"{rec['provider']}/{api_id}")
    for rec in llms:
        rec["slug"] = f"{rec['provider']}/{rec['model']}"
        rec["name"] = rec["name"] or rec["model"]
    return llms


def _write(out_path: Path, tables: _Tables, report: BuildReport) -> None:
    """Write every table to a new database that replaces ``out_path`` only once complete."""
    import duckdb

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp_db:
        con = duckdb.connect(str(tmp_db))
        try:
            for name, (schema, rows) in tables.items():
                report.tables[name] = _write_table(con, name, schema, rows, tmp_db.parent)
        finally:
            con.close()
        for leftover in tmp_db.parent.glob("*.ndjson"):
            leftover.unlink()


def build_catalog(data_dir: Path | str | None = None, *, out: Path | str | None = None,
                  overrides: Sequence[Path | str] = (), use_genai_prices: bool = True) -> BuildReport:
    """Build the catalog into ``out`` (default ``$TIERFLOW_HOME/catalog.duckdb``).

    The sources are the shipped ones, except those found in ``data_dir`` (default:
    ``$TIERFLOW_CATALOG_DATA``), a folder laid out like the shipped sources' reference layout; a
    source the folder lacks falls back to the shipped copy with a warning. ``overrides`` are user
    CSV/JSON files applied last (see :mod:`tierflow.catalog.overrides`).
    """
    from tierflow.catalog.overrides import apply_overrides, read_overrides

    out_path = Path(out) if out else default_catalog_path()
    report = BuildReport(path=out_path)
    recipe = _recipe(data_dir, overrides, use_genai_prices)
    override_rows = [row for f in recipe.overrides for row in read_overrides(f)]  # validate before any work
    resolved, report.warnings = resolve_sources(recipe.folder)
    if recipe.folder is not None and recipe.folder_from == "env" and not recipe.folder.is_dir():
        report.warnings.insert(0, f"{DATA_ENV}={recipe.folder} is not a folder; using the shipped data")

    tables: _Tables = {}
    merger = Merger()
    litellm, file_rows = _read_sources(resolved, merger, tables, report)
    if use_genai_prices:
        file_rows.append(_read_genai_prices(merger, tables, report))
        merger.finish_prices(litellm)
    merger.finish_scores()
    local_models(merger)
    llms = _final_rows(merger)
    if override_rows:
        llms = apply_overrides(llms, override_rows, blend)
        report.sources["overrides"] = ", ".join(str(f) for f in recipe.overrides)
        file_rows.append({"source": "overrides", "origin": "user files", "path": report.sources["overrides"],
                          "license": "user", "as_of": "build time", "rows": len(override_rows),
                          "description": "user overrides", "sha256": ""})
    tables["llms"] = (LLMS_SCHEMA, sorted(llms, key=lambda r: r["slug"]))
    tables["source_files"] = (SOURCE_FILES_SCHEMA, file_rows)
    tables["sources"] = (SOURCES_SCHEMA, _provenance_rows(report.sources))
    tables["build_info"] = (BUILD_INFO_SCHEMA, build_info_rows(recipe, fingerprint(resolved, recipe)))

    old = read_prices(out_path)
    _write(out_path, tables, report)
    if old is not None:
        report.changes = diff(old, {r["slug"]: (r["input_price"], r["output_price"]) for r in llms})
    return report


def _provenance_rows(as_of: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for p in COLUMN_PROVENANCE:
        used = [s.strip() for s in p.sources.split(",")]
        dates = "; ".join(f"{s} {as_of[s]}" for s in used if s in as_of)
        rows.append({"column_name": p.column, "sources": p.sources, "derivation": p.derivation,
                     "as_of": dates or "-"})
    return rows


__all__ = ["LLMS_SCHEMA", "LOCAL_MODELS", "BuildReport", "blend", "build_catalog"]
