"""Seed 001's picker: catalog models grouped by slug prefix."""

from __future__ import annotations

from tierflow.catalog.picker import group_by_prefix


def test_groups_by_prefix_with_display_name_and_context(con) -> None:
    groups = group_by_prefix(con=con)
    assert {"openai/", "anthropic/", "google/", "local/"} <= set(groups)
    assert all(k.endswith("/") for k in groups)
    for prefix, models in groups.items():
        assert all(m["slug"].startswith(prefix) for m in models)
        assert all(set(m) == {"slug", "display_name", "context_window"} for m in models)
    gpt4o = next(m for m in groups["openai/"] if m["slug"] == "openai/gpt-4o")
    assert gpt4o == {"slug": "openai/gpt-4o", "display_name": "GPT-4o", "context_window": 128000}


def test_one_prefix_and_priced_only(con) -> None:
    groups = group_by_prefix(con=con, prefix="anthropic", priced_only=True)
    assert list(groups) == ["anthropic/"]
    names = [m["display_name"].lower() for m in groups["anthropic/"]]
    assert names == sorted(names)
