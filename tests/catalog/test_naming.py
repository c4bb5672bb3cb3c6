"""One join key per model across the sources' spellings."""

from __future__ import annotations

import pytest

from tierflow.catalog.naming import creator_of, model_key, provider_of


@pytest.mark.parametrize("a,b", [
    ("claude-sonnet-4.5", "claude-sonnet-4-5-20250929"),
    ("anthropic/claude-opus-4.5", "claude-opus-4-5-20251101-high-32k"),
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("o3", "o3-2025-04-16"),
    ("gemini-3-flash-preview", "gemini-3-flash (thinking-minimal)"),
    ("gpt-5.5", "gpt-5.5-high"),
])
def test_spellings_of_one_model_share_a_key(a: str, b: str) -> None:
    assert model_key(a) == model_key(b)


@pytest.mark.parametrize("a,b", [("gpt-4o", "gpt-4o-mini"), ("mistral-large-2512", "mistral-large-2411"),
                                 ("gpt-5.5", "gpt-5.5-instant"), ("qwen3-max", "qwen3")])
def test_different_models_keep_different_keys(a: str, b: str) -> None:
    assert model_key(a) != model_key(b)


def test_providers_and_creators() -> None:
    assert provider_of("x-ai") == "xai" and provider_of("mistralai") == "mistral" and provider_of("openai") == "openai"
    assert creator_of("claude-opus-4-6-high") == "anthropic"
    assert creator_of("gpt-oss-120b") == "openai"
    assert creator_of("Qwen3.5-397B") == "alibaba"
    assert creator_of("some-new-thing") == "other"
