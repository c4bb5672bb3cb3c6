"""Prices: config overrides, local = 0, genai-prices, unknown = None (never 0), cross-checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tierflow.pricing import Price, PriceTable
from tierflow.types import Usage


def test_price_cost_splits_cached_and_reasoning() -> None:
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5, reasoning_per_mtok=4.0)
    usage = Usage(input_tokens=1000, output_tokens=500, cached_tokens=400, reasoning_tokens=100)
    expected = (600 * 2.0 + 400 * 0.5 + 400 * 8.0 + 100 * 4.0) / 1e6
    assert price.cost(usage) == pytest.approx(expected)


def test_cached_and_reasoning_default_to_input_and_output_rates() -> None:
    price = Price(input_per_mtok=1.0, output_per_mtok=3.0)
    usage = Usage(input_tokens=1000, output_tokens=1000, cached_tokens=500, reasoning_tokens=500)
    assert price.cost(usage) == pytest.approx((1000 * 1.0 + 1000 * 3.0) / 1e6)


def test_override_beats_catalog_and_glob_matches() -> None:
    table = PriceTable({"openai/gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 1},
                        "vllm/*": {"input_per_mtok": 0, "output_per_mtok": 0}})
    usage = Usage(1_000_000, 1_000_000)
    assert table.cost("openai", "openai", "gpt-4o", usage) == pytest.approx(2.0)
    assert table.cost("vllm", "openai", "anything-at-all", usage) == 0.0


def test_local_models_cost_zero_by_declaration() -> None:
    assert PriceTable().cost("local", "local", "smollm2-135m-instruct", Usage(5000, 5000)) == 0.0


def test_unknown_price_is_none_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable()
    with caplog.at_level(logging.WARNING, logger="tierflow.pricing"):
        first = table.cost("acme", "openai", "no-such-model-xyz", Usage(10, 10))
        second = table.cost("acme", "openai", "no-such-model-xyz", Usage(10, 10))
    assert first is None and second is None
    warnings = [r for r in caplog.records if "acme/no-such-model-xyz" in r.getMessage()]
    assert len(warnings) == 1


def test_genai_prices_by_kind_and_by_model_name() -> None:
    table = PriceTable()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    anthropic = table.cost("anthropic", "anthropic", "claude-3-5-haiku-latest", usage)
    assert anthropic is not None and anthropic > 0
    # an OpenAI-compatible server on a custom URL still prices a known model name
    assert table.cost("srv", "openai", "gpt-4o-mini", usage, base_url="http://127.0.0.1:1/v1") == \
        pytest.approx(table.cost("openai", "openai", "gpt-4o-mini", usage))


def test_tiered_prices_go_up_above_the_tier() -> None:
    table = PriceTable()
    small = table.cost("gemini", "gemini", "gemini-2.5-pro", Usage(100_000, 0))
    large = table.cost("gemini", "gemini", "gemini-2.5-pro", Usage(300_000, 0))
    assert small is not None and large is not None
    assert large / 300_000 > small / 100_000  # the per-token rate rises past 200k input tokens


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "o3-mini", "gpt-4.1", "claude-sonnet-4-5"])
def test_catalog_prices_agree_with_litellm_reference(shared_data: Path, model: str) -> None:
    ref = json.loads((shared_data / "catalog/litellm/model_prices_and_context_window.json").read_text())[model]
    kind = "anthropic" if model.startswith("claude") else "openai"
    table = PriceTable()
    n = 100_000  # below the 200k tier of models with tiered prices
    assert table.cost(kind, kind, model, Usage(input_tokens=n)) == pytest.approx(ref["input_cost_per_token"] * n,
                                                                                 rel=1e-6)
    assert table.cost(kind, kind, model, Usage(output_tokens=n)) == pytest.approx(ref["output_cost_per_token"] * n,
                                                                                  rel=1e-6)
    if "cache_read_input_token_cost" in ref:
        cached = Usage(input_tokens=n, cached_tokens=n)
        assert table.cost(kind, kind, model, cached) == pytest.approx(ref["cache_read_input_token_cost"] * n,
                                                                      rel=1e-6)
    if "cache_creation_input_token_cost" in ref:
        written = Usage(input_tokens=n, cache_write_tokens=n)
        assert table.cost(kind, kind, model, written) == pytest.approx(ref["cache_creation_input_token_cost"] * n,
                                                                       rel=1e-6)


def test_price_by_name_reads_outcome_tables_model_names() -> None:
    from genai_prices import Usage as GenaiUsage
    from genai_prices import calc_price

    from tierflow.pricing import price_by_name

    for name, ref, provider in [("gpt-4o-mini", "gpt-4o-mini", "openai"),
                                ("openai/gpt-4o", "openai/gpt-4o", "openrouter"),
                                ("anthropic/claude-3-5-haiku-latest", "claude-3-5-haiku-latest", "anthropic")]:
        found = price_by_name(name)
        assert found is not None, name
        expected = calc_price(GenaiUsage(input_tokens=1_000_000, output_tokens=1_000_000), model_ref=ref,
                              provider_id=provider).total_price
        assert found[0] + found[1] == pytest.approx(float(expected)) and "genai-prices" in found[2]
    assert price_by_name("acme/no-such-model-xyz") is None and price_by_name("no-such-model-xyz") is None


# --- cache writes, genai-prices' own calculation, usage that cannot be priced ----------------------


def test_cache_writes_are_billed_at_the_write_rate() -> None:
    table = PriceTable()
    model = "claude-3-5-sonnet-latest"
    writes = table.cost("anthropic", "anthropic", model, Usage(input_tokens=1_000_000, cache_write_tokens=1_000_000))
    hour = table.cost("anthropic", "anthropic", model,
                      Usage(input_tokens=1_000_000, cache_write_tokens=1_000_000, cache_write_1h_tokens=1_000_000))
    plain = table.cost("anthropic", "anthropic", model, Usage(input_tokens=1_000_000))
    assert (writes, hour, plain) == (pytest.approx(3.75), pytest.approx(6.0), pytest.approx(3.0))


GENAI_MODELS = [("anthropic", "claude-3-5-sonnet-latest"), ("anthropic", "claude-sonnet-4-5"),
                ("anthropic", "claude-opus-4-1"), ("openai", "gpt-4o"), ("openai", "o3-mini"),
                ("openai", "gpt-4.1-mini"), ("gemini", "gemini-2.0-flash"), ("gemini", "gemini-2.5-pro"),
                ("gemini", "gemini-2.5-flash")]


def _random_usages(seed: int, n: int = 60) -> list[Usage]:
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        inp = rng.choice([0, 1, 17, 999, 120_000, 250_000, 1_000_000])
        cached = rng.randint(0, inp)
        write = rng.randint(0, inp - cached)
        output = rng.choice([1, 50, 4096, 70_000])
        out.append(Usage(inp, output, cached, rng.randint(0, output), write, rng.randint(0, write)))
    return out


@pytest.mark.parametrize(("kind", "model"), GENAI_MODELS)
def test_costs_equal_genai_prices_own_calculation(kind: str, model: str) -> None:
    from datetime import UTC, datetime

    from genai_prices import Usage as GenaiUsage
    from genai_prices import data_snapshot

    _, info = data_snapshot.get_snapshot().find_provider_model(model, None, {"gemini": "google"}.get(kind, kind), None)
    model_price = info.get_prices(datetime.now(tz=UTC))
    table = PriceTable()
    for usage in _random_usages(hash(model) % 1000):
        expected = float(model_price.calc_price(GenaiUsage(
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cache_read_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens, cache_write_1h_tokens=usage.cache_write_1h_tokens,
            output_reasoning_tokens=usage.reasoning_tokens))["total_price"])
        assert table.cost(kind, kind, model, usage) == pytest.approx(expected, rel=1e-9, abs=1e-12), usage


def test_config_prices_have_cache_write_rates() -> None:
    table = PriceTable({"gw/m": {"input_per_mtok": 2, "output_per_mtok": 8, "cached_input_per_mtok": 0.5,
                                 "cache_write_per_mtok": 2.5, "cache_write_1h_per_mtok": 4},
                        "gw/plain": {"input_per_mtok": 2, "output_per_mtok": 8}})
    usage = Usage(input_tokens=1000, output_tokens=10, cached_tokens=300, cache_write_tokens=500,
                  cache_write_1h_tokens=100)
    expected = (200 * 2 + 300 * 0.5 + 400 * 2.5 + 100 * 4 + 10 * 8) / 1e6
    assert table.cost("gw", "openai", "m", usage) == pytest.approx(expected)
    assert table.cost("gw", "openai", "plain", usage) == pytest.approx((1000 * 2 + 10 * 8) / 1e6)  # unset: input rate


@pytest.mark.parametrize("usage", [Usage(), Usage(-10, 5), Usage(10, -5), Usage(10, 5, cached_tokens=11),
                                   Usage(10, 5, reasoning_tokens=6), Usage(10, 5, cache_write_tokens=4, cached_tokens=7),
                                   Usage(10, 5, cache_write_tokens=2, cache_write_1h_tokens=3)],
                         ids=["empty", "negative input", "negative output", "cached above input",
                              "reasoning above output", "reads and writes above input", "1h above writes"])
@pytest.mark.parametrize("source", ["genai", "config"])
def test_usage_that_cannot_be_priced_gets_none_never_zero_or_negative(usage: Usage, source: str,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    table = PriceTable({"gw/m": {"input_per_mtok": 2, "output_per_mtok": 8}})
    provider, kind, model = ("openai", "openai", "gpt-4o") if source == "genai" else ("gw", "openai", "m")
    with caplog.at_level(logging.WARNING, logger="tierflow.pricing"):
        assert table.cost(provider, kind, model, usage) is None
        assert table.cost(provider, kind, model, usage) is None
    assert len([r for r in caplog.records if "cannot price" in r.getMessage()]) == 1  # warned once


def test_an_empty_usage_on_a_free_model_costs_zero() -> None:
    table = PriceTable({"vllm/*": {"input_per_mtok": 0, "output_per_mtok": 0}})
    assert table.cost("vllm", "openai", "any", Usage()) == 0.0
    assert table.cost("local", "local", "smollm2-135m-instruct", Usage()) == 0.0
