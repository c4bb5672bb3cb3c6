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
