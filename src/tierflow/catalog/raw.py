"""Readers of the catalog's sources, each returning plain rows for one ``raw_*`` table.

The raw tables keep the sources as they were read (one row per source entry, their own units)
so any derived ``llms`` value can be checked against them with SQL.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierflow.errors import CatalogError, Problem
from tierflow.pricing import base_mtok

# table name -> {column: DuckDB type}
RAW_SCHEMAS: dict[str, dict[str, str]] = {
    "raw_tryaii": {"model_id": "VARCHAR", "provider": "VARCHAR", "input_per_1k": "DOUBLE",
                   "output_per_1k": "DOUBLE", "tokens_per_second": "DOUBLE", "ttft_ms": "DOUBLE",
                   "latency": "VARCHAR", "capabilities": "VARCHAR[]"},
    "raw_tryaii_scores": {"model_id": "VARCHAR", "benchmark": "VARCHAR", "score": "DOUBLE"},
    "raw_arena": {"category": "VARCHAR", "model": "VARCHAR", "rating": "DOUBLE", "ci_low": "DOUBLE",
                  "ci_high": "DOUBLE", "votes": "BIGINT", "input_price": "DOUBLE",
                  "output_price": "DOUBLE"},
    "raw_models_dev": {"provider": "VARCHAR", "model_id": "VARCHAR", "name": "VARCHAR",
                       "family": "VARCHAR", "input_cost": "DOUBLE", "output_cost": "DOUBLE",
                       "cache_read_cost": "DOUBLE", "context": "BIGINT", "max_output": "BIGINT",
                       "input_modalities": "VARCHAR[]", "output_modalities": "VARCHAR[]",
                       "open_weights": "BOOLEAN", "reasoning": "BOOLEAN", "tool_call": "BOOLEAN",
                       "release_date": "VARCHAR", "last_updated": "VARCHAR"},
    "raw_litellm": {"model_key": "VARCHAR", "provider": "VARCHAR", "mode": "VARCHAR",
                    "input_cost_per_token": "DOUBLE", "output_cost_per_token": "DOUBLE",
                    "cache_read_input_token_cost": "DOUBLE", "max_input_tokens": "BIGINT",
                    "max_output_tokens": "BIGINT", "supports_function_calling": "BOOLEAN",
                    "supports_vision": "BOOLEAN"},
    "raw_genai_prices": {"provider": "VARCHAR", "model_id": "VARCHAR", "name": "VARCHAR",
                         "input_mtok": "DOUBLE", "output_mtok": "DOUBLE", "cache_read_mtok": "DOUBLE",
                         "context_window": "BIGINT"},
}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _read_json(path: Path) -> Any:
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise CatalogError([Problem(str(path), f"cannot be read as JSON: {exc}")]) from exc


def read_tryaii(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(raw_tryaii rows, raw_tryaii_scores rows, as-of date) from the starter catalog's models.json."""
    doc = _read_json(path)
    rows, scores = [], []
    for m in doc.get("models", []):
        pricing = m.get("pricing") or {}
        rows.append({"model_id": m.get("model_id"), "provider": m.get("provider"),
                     "input_per_1k": _num(pricing.get("input_per_1k")),
                     "output_per_1k": _num(pricing.get("output_per_1k")),
                     "tokens_per_second": _num(m.get("tokens_per_second")),
                     "ttft_ms": _num(m.get("ttft_ms")), "latency": m.get("latency"),
                     "capabilities": list(m.get("capabilities") or [])})
        for bench, score in (m.get("benchmark_scores") or {}).items():
            if _num(score) is not None:
                scores.append({"model_id": m.get("model_id"), "benchmark": bench, "score": score})
    as_of = str(doc.get("generated_from", "")).rpartition(", ")[2] or str(doc.get("updated", ""))
    return rows, scores, as_of


def read_arena(path: Path) -> tuple[list[dict[str, Any]], str]:
    """raw_arena rows (every category page) and the fetch date."""
    doc = _read_json(path)
    rows = []
    for category, entries in (doc.get("pages") or {}).items():
        for e in entries:
            name, rating, lo, hi, votes, pin, pout = (list(e) + [None] * 7)[:7]
            rows.append({"category": category, "model": name, "rating": _num(rating), "ci_low": _num(lo),
                         "ci_high": _num(hi), "votes": _int(votes), "input_price": _num(pin),
                         "output_price": _num(pout)})
    return rows, str(doc.get("fetched_at", ""))[:10]


def read_models_dev(path: Path) -> tuple[list[dict[str, Any]], str]:
    """raw_models_dev rows (every provider's models) and the latest ``last_updated`` seen."""
    doc = _read_json(path)
    rows = [_models_dev_row(pid, mid, m) for pid, prov in doc.items()
            for mid, m in (prov.get("models") or {}).items()]
    as_of = max((r["last_updated"] for r in rows if isinstance(r["last_updated"], str)), default="")
    return rows, as_of


def _models_dev_row(pid: str, mid: str, m: dict[str, Any]) -> dict[str, Any]:
    """One models.dev model as a raw_models_dev row."""
    cost, limit, mods = m.get("cost") or {}, m.get("limit") or {}, m.get("modalities") or {}
    return {"provider": pid, "model_id": mid, "name": m.get("name"), "family": m.get("family"),
            "input_cost": _num(cost.get("input")), "output_cost": _num(cost.get("output")),
            "cache_read_cost": _num(cost.get("cache_read")), "context": _int(limit.get("context")),
            "max_output": _int(limit.get("output")),
            "input_modalities": list(mods.get("input") or []),
            "output_modalities": list(mods.get("output") or []),
            "open_weights": _bool(m.get("open_weights")), "reasoning": _bool(m.get("reasoning")),
            "tool_call": _bool(m.get("tool_call")), "release_date": m.get("release_date"),
            "last_updated": m.get("last_updated")}


def read_litellm(path: Path) -> tuple[list[dict[str, Any]], str]:
    """raw_litellm rows (the documentation entry ``sample_spec`` skipped); no date in the file."""
    doc = _read_json(path)
    rows = []
    for key, m in doc.items():
        if key == "sample_spec" or not isinstance(m, dict):
            continue
        rows.append({"model_key": key, "provider": m.get("litellm_provider"), "mode": m.get("mode"),
                     "input_cost_per_token": _num(m.get("input_cost_per_token")),
                     "output_cost_per_token": _num(m.get("output_cost_per_token")),
                     "cache_read_input_token_cost": _num(m.get("cache_read_input_token_cost")),
                     "max_input_tokens": _int(m.get("max_input_tokens")),
                     "max_output_tokens": _int(m.get("max_output_tokens")),
                     "supports_function_calling": _bool(m.get("supports_function_calling")),
                     "supports_vision": _bool(m.get("supports_vision"))})
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date().isoformat()
    return rows, f"file date {mtime}"


def iter_genai_prices() -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """(provider, model info, raw_genai_prices row) for every model of the genai-prices package."""
    from genai_prices.data import providers

    now = datetime.now(tz=UTC)
    for prov in providers:
        for info in prov.models:
            p = info.get_prices(now)
            yield prov, info, {"provider": prov.id, "model_id": info.id, "name": info.name,
                               "input_mtok": base_mtok(p.input_mtok), "output_mtok": base_mtok(p.output_mtok),
                               "cache_read_mtok": base_mtok(p.cache_read_mtok),
                               "context_window": info.context_window}


def genai_price_lookup(provider_id: str, model: str) -> dict[str, Any] | None:
    """Prices of ``model`` at ``provider_id`` via genai-prices' own matching rules, or None."""
    from genai_prices.data import providers

    prov = next((p for p in providers if p.id == provider_id), None)
    info = prov.find_model(model) if prov else None
    if info is None:
        return None
    p = info.get_prices(datetime.now(tz=UTC))
    return {"input": base_mtok(p.input_mtok), "output": base_mtok(p.output_mtok),
            "cached": base_mtok(p.cache_read_mtok), "context_window": info.context_window, "id": info.id}


__all__ = ["RAW_SCHEMAS", "genai_price_lookup", "iter_genai_prices", "read_arena",
           "read_litellm", "read_models_dev", "read_tryaii"]
