"""Prices and the cost of a call, in USD.

Where a price comes from, first match wins:

1. the config's ``prices:`` overrides, keyed ``"provider/model"`` (or ``"provider/*"`` for a whole
   provider, e.g. a self-hosted server that costs nothing);
2. provider kind ``local``: 0 by declaration (the embedded llama.cpp models);
3. the maintained ``genai-prices`` package, looked up by the provider kind (``openai``,
   ``anthropic``, ``google``, ``azure``), then by the provider's base URL, then by model name alone.

An unknown price never becomes $0: :meth:`PriceTable.cost` returns ``None`` and a warning is logged
once per model; with ``strict_cost: true`` the call layer refuses the call before sending it
(:class:`~tierflow.errors.PriceUnknownError`).

Token accounting follows the providers' convention: ``cached_tokens`` is the part of
``input_tokens`` read from cache, ``reasoning_tokens`` the part of ``output_tokens`` spent
reasoning. A price is resolved once per model and cached; computing a cost is a few float
multiplications (tiered prices, e.g. above 200k input tokens, go through genai-prices per call).
"""

from __future__ import annotations

import fnmatch
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tierflow.types import Usage

_log = logging.getLogger("tierflow.pricing")

_GENAI_PROVIDER_IDS = {"openai": "openai", "azure": "azure", "anthropic": "anthropic", "gemini": "google"}


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. ``cached_input`` / ``reasoning`` of None bill as input / output."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    source: str = "config"

    def cost(self, usage: Usage) -> float:
        cached = usage.cached_tokens
        reasoning = usage.reasoning_tokens
        total = (usage.input_tokens - cached) * self.input_per_mtok
        total += cached * (self.input_per_mtok if self.cached_input_per_mtok is None
                           else self.cached_input_per_mtok)
        total += (usage.output_tokens - reasoning) * self.output_per_mtok
        total += reasoning * (self.output_per_mtok if self.reasoning_per_mtok is None
                              else self.reasoning_per_mtok)
        return total / 1_000_000.0


FREE = Price(0.0, 0.0, 0.0, 0.0, source="local")

CostFn = Callable[[Usage], float]


class PriceTable:
    """Resolves and caches one cost function per ``provider/model``."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._overrides: dict[str, Price] = {}
        for key, spec in (overrides or {}).items():
            get = spec.get if isinstance(spec, Mapping) else (lambda k, s=spec: getattr(s, k, None))
            self._overrides[key] = Price(float(get("input_per_mtok")), float(get("output_per_mtok")),
                                         _opt_float(get("cached_input_per_mtok")),
                                         _opt_float(get("reasoning_per_mtok")), source="config")
        self._cache: dict[str, CostFn | None] = {}
        self._warned: set[str] = set()

    def cost_fn(self, provider: str, kind: str, model: str, base_url: str | None = None) -> CostFn | None:
        """The cost function of ``provider/model`` (cached), or None when no price is known."""
        key = f"{provider}/{model}"
        if key in self._cache:
            return self._cache[key]
        fn = self._resolve(provider, kind, model, base_url)
        self._cache[key] = fn
        return fn

    def cost(self, provider: str, kind: str, model: str, usage: Usage,
             base_url: str | None = None) -> float | None:
        """USD cost of ``usage`` on ``provider/model``; None (and a one-time warning) if unknown."""
        fn = self.cost_fn(provider, kind, model, base_url)
        if fn is None:
            self.warn_unknown(f"{provider}/{model}")
            return None
        return fn(usage)

    def warn_unknown(self, key: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            _log.warning("no price known for %s: cost_usd is None (add it under `prices:` in the "
                         "config)", key)

    def _resolve(self, provider: str, kind: str, model: str, base_url: str | None) -> CostFn | None:
        key = f"{provider}/{model}"
        price = self._overrides.get(key)
        if price is None:
            for pattern, p in self._overrides.items():
                if "*" in pattern and fnmatch.fnmatchcase(key, pattern):
                    price = p
                    break
        if price is not None:
            return price.cost
        if kind == "local":
            return FREE.cost
        return _genai_cost_fn(kind, model, base_url)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _genai_matches(attempts: list[tuple[str, str | None, str | None]]) -> Iterator[tuple[Any, Any]]:
    """``(provider, model info)`` for each ``(name, provider id, API URL)`` genai-prices resolves, in order."""
    try:
        from genai_prices import data_snapshot
    except ImportError:  # pragma: no cover - a declared dependency
        return
    snapshot = data_snapshot.get_snapshot()
    for name, provider_id, api_url in attempts:
        try:
            yield snapshot.find_provider_model(name, None, provider_id, api_url)
        except LookupError:
            continue


def _genai_cost_fn(kind: str, model: str, base_url: str | None) -> CostFn | None:
    """Look ``model`` up in genai-prices: by provider id, then by API URL, then by name alone."""
    attempts: list[tuple[str, str | None, str | None]] = []
    if kind in _GENAI_PROVIDER_IDS:
        attempts.append((model, _GENAI_PROVIDER_IDS[kind], None))
    if base_url:
        attempts.append((model, None, base_url))
    attempts.append((model, None, None))
    for provider, info in _genai_matches(attempts):
        return _cost_fn_from_genai(provider, info, model)
    return None


@functools.cache
def price_by_name(model: str) -> tuple[float, float, str] | None:
    """``(input, output, source)`` USD per 1M tokens for a bare model name, from genai-prices.

    For outcome tables, which name models without a provider: ``gpt-4o`` by name alone;
    ``vendor/model`` as OpenRouter lists it, then as ``model`` at provider ``vendor``, then as
    ``model`` alone. Tiered prices give their base tier. None when nothing matches.
    """
    from datetime import UTC, datetime

    vendor, _, bare = model.rpartition("/")
    attempts = [(model, "openrouter", None), (bare, vendor, None), (bare, None, None)] if vendor \
        else [(model, None, None)]
    for provider, info in _genai_matches(attempts):
        try:
            price = info.get_prices(datetime.now(tz=UTC))
        except Exception:  # noqa: BLE001 - a price data shape this version doesn't know: try the next name
            continue
        inp, out = base_mtok(price.input_mtok), base_mtok(price.output_mtok)
        if inp is not None and out is not None:
            return inp, out, f"genai-prices {provider.id}/{info.id}"
    return None


def base_mtok(price: Any) -> float | None:
    """A genai-prices price (Decimal, or TieredPrices: its base tier) as USD per 1M tokens."""
    if isinstance(price, Decimal):
        return float(price)
    base = getattr(price, "base", None)
    return float(base) if isinstance(base, Decimal) else None


def _cost_fn_from_genai(provider: Any, info: Any, model: str) -> CostFn | None:
    from datetime import UTC, datetime

    from genai_prices.types import TieredPrices

    try:
        model_price = info.get_prices(datetime.now(tz=UTC))
    except Exception:  # noqa: BLE001 - a price data shape this version doesn't know
        model_price = None
    if model_price is None:
        return None
    fields = {k: getattr(model_price, k, None) for k in ("input_mtok", "output_mtok", "cache_read_mtok")}
    if fields["input_mtok"] is None or fields["output_mtok"] is None:
        return None
    if any(isinstance(v, TieredPrices) for v in fields.values()):
        return _tiered_cost_fn(model_price)
    return Price(float(fields["input_mtok"]), float(fields["output_mtok"]),
                 _opt_float(fields["cache_read_mtok"]), None, source="genai-prices").cost


def _tiered_cost_fn(model_price: Any) -> CostFn:
    from genai_prices import Usage as GenaiUsage

    def cost(usage: Usage) -> float:
        calc = model_price.calc_price(GenaiUsage(input_tokens=usage.input_tokens,
                                                 output_tokens=usage.output_tokens,
                                                 cache_read_tokens=usage.cached_tokens))
        return float(calc["total_price"])

    return cost


__all__ = ["Price", "PriceTable", "FREE", "CostFn", "base_mtok", "price_by_name"]
