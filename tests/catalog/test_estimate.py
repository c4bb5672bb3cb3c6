"""Cost estimates: seed 004's cascade arithmetic exactly, seed 002's pipeline, bad specs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tierflow.catalog.estimate import estimate, load_spec, parse_spec
from tierflow.errors import ConfigError


def test_seed_004_cascade_is_reproduced_exactly(repo_root: Path) -> None:
    est = estimate(load_spec(repo_root / "examples/cost/seed004_cascade.yaml"))
    assert est.single_total == Decimal("12.50")
    assert est.plan_total == Decimal("3.10")
    by_stage = {s.stage: s for s in est.stages}
    assert by_stage["simple"].cost == Decimal("0.60") and by_stage["simple"].input_tokens == 800_000
    assert by_stage["complex"].cost == Decimal("2.50")
    assert est.savings == Decimal("9.40")
    assert round(est.savings_pct) == 75
    assert est.price_sources == {"openai/gpt-4o": "spec", "openai/gpt-4o-mini": "spec"}


def test_seed_002_document_pipeline(repo_root: Path) -> None:
    est = estimate(load_spec(repo_root / "examples/cost/seed002_document_pipeline.yaml"))
    extract = est.stages[0]
    assert extract.calls == 10_000
    # 20M input + 3M output tokens at $0.50/M blended
    assert extract.cost == Decimal("11.5")
    assert est.plan_total < est.single_total / 5  # seed 002: "often 5-10x cheaper" or better


def test_catalog_prices_are_used_when_the_spec_has_none(repo_root: Path, catalog_path: Path) -> None:
    est = estimate(load_spec(repo_root / "examples/cost/catalog_prices.yaml"), catalog=catalog_path)
    assert set(est.price_sources.values()) == {"catalog"}
    hard = est.stages[1]
    assert (hard.price_in, hard.price_out) == (Decimal("3.0"), Decimal("15.0"))
    assert est.plan_total < est.single_total


def test_unknown_model_suggests_catalog_slugs(catalog_path: Path) -> None:
    spec = parse_spec({"calls": 10, "tokens_per_call": {"input": 1, "output": 1}, "single": "openai/gpt-4oo",
                       "plan": [{"stage": "s", "model": "openai/gpt-4o", "share": 1}]})
    with pytest.raises(ConfigError) as info:
        estimate(spec, catalog=catalog_path)
    assert "openai/gpt-4oo" in str(info.value) and "did you mean" in str(info.value)


@pytest.mark.parametrize("doc,expected", [
    ({"single": "a", "plan": []}, "plan"),
    ({"calls": 10, "tokens_per_call": {"input": 1, "output": 1}, "single": "a",
      "plan": [{"stage": "s", "model": "a", "share": 0.5, "calls": 3}]}, "exactly one of 'share'"),
    ({"tokens_per_call": {"input": 1, "output": 1}, "single": "a",
      "plan": [{"stage": "s", "model": "a", "share": 0.5}]}, "no 'calls'"),
    ({"calls": 10, "tokens_per_call": {"input": 1, "output": 1}, "single": "a",
      "plan": [{"stage": "s", "model": "a", "share": 0.7}, {"stage": "t", "model": "a", "share": 0.7}]}, "more than 1"),
    ({"calls": 10, "tokens_per_call": {"input": "many", "output": 1}, "single": "a",
      "plan": [{"stage": "s", "model": "a", "share": 1}]}, "tokens_per_call.input"),
    ({"calls": 10, "tokens_per_call": {"input": 1, "output": 1}, "single": "a", "prices": {"a": {"input": 1}},
      "plan": [{"stage": "s", "model": "a", "share": 1}]}, "'blended'"),
])
def test_bad_specs_name_the_field(doc: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_spec(doc, source="spec.yaml")


def test_unreadable_spec(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("plan: [\n")
    with pytest.raises(ConfigError, match="s.yaml"):
        load_spec(f)
