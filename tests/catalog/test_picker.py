"""Seed 001's picker: catalog models grouped by slug prefix."""

from __future__ import annotations

from tierflow.catalog.picker import group_by_prefix, selection_for


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


SLUGS = {"openai/gpt-4o", "google/gemini-2.5-pro"}


def test_an_entry_the_catalog_lacks_opens_as_custom_with_its_values() -> None:
    legacy = selection_for({"role": "x", "ref": "scaiinfer", "model": "poolnoodle/babynoodle"}, SLUGS)
    assert (legacy.mode, legacy.slug) == ("custom", None)
    assert legacy.entry() == {"ref": "scaiinfer", "model": "poolnoodle/babynoodle"}
    known = selection_for({"ref": "openai", "model": "gpt-4o"}, SLUGS)
    assert (known.mode, known.slug) == ("catalog", "openai/gpt-4o")
    gemini = selection_for({"ref": "gemini", "model": "gemini-2.5-pro"}, SLUGS)  # tierflow's name for google/
    assert (gemini.mode, gemini.slug) == ("catalog", "google/gemini-2.5-pro")


def test_switching_between_catalog_and_custom_keeps_the_values() -> None:
    legacy = selection_for({"ref": "scaiinfer", "model": "poolnoodle/babynoodle"}, SLUGS)
    back = legacy.switch("catalog").switch("custom")
    assert back == legacy and legacy.switch("catalog").entry() == legacy.entry()
    known = selection_for({"ref": "openai", "model": "gpt-4o"}, SLUGS)
    assert known.switch("custom").entry() == {"ref": "openai", "model": "gpt-4o"}
    assert known.switch("custom").switch("catalog").slug == "openai/gpt-4o"
