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

Token accounting follows genai-prices: ``input_tokens`` counts every prompt token, of which
``cached_tokens`` were read from the provider's cache and ``cache_write_tokens`` written to it
(``cache_write_1h_tokens`` of those for an hour); ``reasoning_tokens`` are part of
``output_tokens``. Each part is billed at its own rate (a cache write costs more than plain input:
1M written tokens on Claude 3.5 Sonnet cost $3.75, $6 when kept for an hour).

genai-prices computes the cost: a model's price is resolved once and cached; for a flat price, the
per-token rate of each usage field is read once from genai-prices' own ``calc_price`` (probing it
with one million tokens of each field), so a cost is six multiplications and equals ``calc_price``
exactly (``tests/test_pricing.py`` checks it on random usages); tiered prices (e.g. above 200k
input tokens) call ``calc_price`` each time.

A cost is never $0 or negative by accident: a usage with negative counts, or parts larger than
their whole, gets ``None`` and a warning, and so does an empty usage (no tokens at all: the
provider reported none) on a priced model. The providers estimate usage when an answer has none
(``usage.estimated``), so this only happens for custom providers.
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
_PROBE = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens. Unset rates bill as: cached and cache writes as input, 1-hour cache
    writes as cache writes, reasoning as output."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    source: str = "config"
    cache_write_per_mtok: float | None = None
    cache_write_1h_per_mtok: float | None = None

    def cost(self, usage: Usage) -> float:
        inp, out = self.input_per_mtok, self.output_per_mtok
        cached = inp if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        write = inp if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        write_1h = write if self.cache_write_1h_per_mtok is None else self.cache_write_1h_per_mtok
        reasoning = out if self.reasoning_per_mtok is None else self.reasoning_per_mtok
        u = usage
        total = (u.input_tokens - u.cached_tokens - u.cache_write_tokens) * inp + u.cached_tokens * cached
        total += (u.cache_write_tokens - u.cache_write_1h_tokens) * write + u.cache_write_1h_tokens * write_1h
        total += (u.output_tokens - u.reasoning_tokens) * out + u.reasoning_tokens * reasoning
        return total / 1_000_000.0

    @property
    def is_free(self) -> bool:
        return not any((self.input_per_mtok, self.output_per_mtok, self.cached_input_per_mtok,
                        self.reasoning_per_mtok, self.cache_write_per_mtok, self.cache_write_1h_per_mtok))


FREE = Price(0.0, 0.0, 0.0, 0.0, source="local")

CostFn = Callable[[Usage], "float | None"]
"""A model's cost function: USD for a usage, or None when the usage cannot be priced (warned)."""
_RawCost = Callable[[Usage], float]


def usage_problem(usage: Usage) -> str | None:
    """Why ``usage`` cannot be priced (negative counts, parts above their whole, no tokens), or None."""
    u = usage
    counts = (u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens, u.cache_write_tokens,
              u.cache_write_1h_tokens)
    if not all(type(c) is int for c in counts) or min(counts) < 0:
        return "a token count is negative or not a whole number"
    if u.cached_tokens + u.cache_write_tokens > u.input_tokens or u.reasoning_tokens > u.output_tokens \
            or u.cache_write_1h_tokens > u.cache_write_tokens:
        return "a part of the usage is larger than its whole (e.g. more cached than input tokens)"
    if u.input_tokens == 0 and u.output_tokens == 0:
        return "the answer reported no token usage"
    return None


class PriceTable:
    """Resolves and caches one cost function per ``provider/model``."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._overrides: dict[str, Price] = {}
        for key, spec in (overrides or {}).items():
            self._overrides[key] = _price_of(spec)
        self._cache: dict[str, CostFn | None] = {}
        self._warned: set[str] = set()
        self._usage_warned: set[tuple[str, str]] = set()

    def cost_fn(self, provider: str, kind: str, model: str, base_url: str | None = None) -> CostFn | None:
        """The cost function of ``provider/model`` (cached), or None when no price is known."""
        key = f"{provider}/{model}"
        if key in self._cache:
            return self._cache[key]
        resolved = self._resolve(provider, kind, model, base_url)
        fn = None if resolved is None else self._guarded(key, *resolved)
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

    def _guarded(self, key: str, raw: _RawCost, free: bool) -> CostFn:
        """``raw``, except for a usage it cannot price: None and a warning (once per model and reason)."""
        warned = self._usage_warned

        def cost(usage: Usage) -> float | None:
            problem = usage_problem(usage)
            if problem is None:
                return raw(usage)
            if free and problem.startswith("the answer reported no"):
                return 0.0
            if (key, problem) not in warned:
                warned.add((key, problem))
                _log.warning("cannot price a call of %s: %s; cost_usd is None", key, problem)
            return None

        return cost

    def _resolve(self, provider: str, kind: str, model: str, base_url: str | None) -> tuple[_RawCost, bool] | None:
        """The raw cost function of ``provider/model`` and whether its price is zero, or None."""
        key = f"{provider}/{model}"
        price = self._overrides.get(key)
        if price is None:
            for pattern, p in self._overrides.items():
                if "*" in pattern and fnmatch.fnmatchcase(key, pattern):
                    price = p
                    break
        if price is not None:
            return price.cost, price.is_free
        if kind == "local":
            return FREE.cost, True
        fn = _genai_cost_fn(kind, model, base_url)
        return None if fn is None else (fn, False)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _price_of(spec: Any) -> Price:
    """A config price (a ``PriceSettings`` or a plain mapping) as a :class:`Price`."""
    def get(name: str) -> float | None:
        value = spec.get(name) if isinstance(spec, Mapping) else getattr(spec, name, None)
        return _opt_float(value)

    inp, out = get("input_per_mtok"), get("output_per_mtok")
    if inp is None or out is None:
        raise ValueError("a price needs input_per_mtok and output_per_mtok")
    return Price(inp, out, get("cached_input_per_mtok"), get("reasoning_per_mtok"), source="config",
                 cache_write_per_mtok=get("cache_write_per_mtok"),
                 cache_write_1h_per_mtok=get("cache_write_1h_per_mtok"))


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


def _genai_cost_fn(kind: str, model: str, base_url: str | None) -> _RawCost | None:
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
    attempts: list[tuple[str, str | None, str | None]] = (
        [(model, "openrouter", None), (bare, vendor, None), (bare, None, None)] if vendor else [(model, None, None)])
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


def _genai_usage(usage: Usage) -> Any:
    """``usage`` as genai-prices' Usage (cache writes, 1-hour writes and reasoning as their own fields)."""
    from genai_prices import Usage as GenaiUsage

    return GenaiUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                      cache_read_tokens=usage.cached_tokens, cache_write_tokens=usage.cache_write_tokens,
                      cache_write_1h_tokens=usage.cache_write_1h_tokens,
                      output_reasoning_tokens=usage.reasoning_tokens)


def _cost_fn_from_genai(provider: Any, info: Any, model: str) -> _RawCost | None:
    from datetime import UTC, datetime

    from genai_prices.types import TieredPrices

    try:
        model_price = info.get_prices(datetime.now(tz=UTC))
    except Exception:  # noqa: BLE001 - a price data shape this version doesn't know
        model_price = None
    if model_price is None or getattr(model_price, "input_mtok", None) is None \
            or getattr(model_price, "output_mtok", None) is None:
        return None
    if any(isinstance(v, TieredPrices) for v in vars(model_price).values()):
        return _calc_price_fn(model_price)
    try:
        return _linear_cost_fn(model_price)
    except Exception:  # noqa: BLE001 - genai-prices refused a probe: let it price every call itself
        return _calc_price_fn(model_price)


def _calc_price_fn(model_price: Any) -> _RawCost:
    def cost(usage: Usage) -> float:
        return float(model_price.calc_price(_genai_usage(usage))["total_price"])

    return cost


def _linear_cost_fn(model_price: Any) -> _RawCost:
    """A flat price's cost as six per-token rates, each read from genai-prices' ``calc_price``."""
    def price(usage: Usage) -> float:
        return float(model_price.calc_price(_genai_usage(usage))["total_price"])

    n = _PROBE
    base_in, base_out = price(Usage(input_tokens=n)), price(Usage(output_tokens=n))
    base_write = price(Usage(input_tokens=n, cache_write_tokens=n))
    r_in = base_in / n
    r_read = (price(Usage(input_tokens=n, cached_tokens=n)) - base_in) / n
    r_write = (base_write - base_in) / n
    r_1h = (price(Usage(input_tokens=n, cache_write_tokens=n, cache_write_1h_tokens=n)) - base_write) / n
    r_out = base_out / n
    r_reason = (price(Usage(output_tokens=n, reasoning_tokens=n)) - base_out) / n

    def cost(u: Usage) -> float:
        return (u.input_tokens * r_in + u.cached_tokens * r_read + u.cache_write_tokens * r_write
                + u.cache_write_1h_tokens * r_1h + u.output_tokens * r_out + u.reasoning_tokens * r_reason)

    return cost


def recorded_cost(cost: float | None, usage: Usage | None) -> float | None:
    """The cost a ledger row records: ``cost``, or $0 for a request that used no tokens (a failed one,
    typically: no usage at all, or 0 prompt and 0 completion tokens), whatever its model's price.

    A request that used tokens and has no known price stays ``None`` (unknown)."""
    if cost is not None:
        return cost
    if usage is None or usage.total_tokens == 0:
        return 0.0
    return None


__all__ = ["Price", "PriceTable", "FREE", "CostFn", "base_mtok", "price_by_name", "recorded_cost", "usage_problem"]
