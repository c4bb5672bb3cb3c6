"""Role requirements (seed 002's table) and picks per role."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.catalog.requirements import (
    DEFAULT_REQUIREMENTS,
    RoleRequirement,
    fallback_for,
    load_requirements,
    pick,
    resolve_role,
)
from tierflow.errors import CatalogError, ConfigError


def test_defaults_are_seed_002s_table() -> None:
    table = {role: (r.min_intelligence, r.min_coding, r.priority) for role, r in DEFAULT_REQUIREMENTS.items()}
    assert table == {"orchestrator": (55, 45, "capability"), "reasoning_worker": (45, None, "balance"),
                     "tool_worker": (40, 40, "reliability"), "extraction_worker": (30, None, "cost"),
                     "formatting_worker": (25, None, "cost")}
    assert resolve_role("reasoning", DEFAULT_REQUIREMENTS) is DEFAULT_REQUIREMENTS["reasoning_worker"]


@pytest.mark.parametrize("role", list(DEFAULT_REQUIREMENTS))
def test_every_pick_meets_its_requirement_with_reasons(con, role: str) -> None:
    req = DEFAULT_REQUIREMENTS[role]
    picks = pick(req, limit=5, con=con)
    assert len(picks) == 5
    for c in picks:
        assert c.intelligence >= req.min_intelligence
        assert req.min_coding is None or c.coding >= req.min_coding
        assert c.price is not None
        assert any("priority" in r for r in c.reasons)
        assert f"intelligence {c.intelligence:g} >= {req.min_intelligence:g}" in c.reasons
    assert [c.rank for c in picks] == [1, 2, 3, 4, 5]


def test_priorities_order_the_candidates(con) -> None:
    orch = pick(DEFAULT_REQUIREMENTS["orchestrator"], limit=5, con=con)
    assert [c.intelligence for c in orch] == sorted((c.intelligence for c in orch), reverse=True)
    cheap = pick(DEFAULT_REQUIREMENTS["extraction_worker"], limit=5, con=con)
    assert [c.price for c in cheap] == sorted(c.price for c in cheap)
    # capability over cost picks a stronger, dearer model than the cost priority
    assert orch[0].intelligence > cheap[0].intelligence and orch[0].price > cheap[0].price
    balance = pick(DEFAULT_REQUIREMENTS["reasoning_worker"], limit=1, con=con)[0]
    assert balance.price < orch[0].price


def test_free_form_filters_and_order(con) -> None:
    req = RoleRequirement(min_intelligence=45, min_context=1_000_000)
    picks = pick(req, order="price", limit=3, con=con)
    assert picks and all(c.context_window >= 1_000_000 and c.intelligence >= 45 for c in picks)
    assert [c.price for c in picks] == sorted(c.price for c in picks)
    with pytest.raises(CatalogError, match="unknown order"):
        pick(req, order="vibes", con=con)


def test_fallback_comes_from_another_provider(con) -> None:
    picks = pick(DEFAULT_REQUIREMENTS["orchestrator"], limit=None, con=con)
    fb = fallback_for(picks[0], picks)
    assert fb is not None and fb.provider != picks[0].provider


def test_config_overrides_and_adds_requirements(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text("models: []\nrole_requirements:\n  orchestrator: {min_intelligence: 70, min_coding: 60, "
                   "priority: capability}\n  summariser: {min_intelligence: 35, priority: cost}\n")
    reqs = load_requirements(cfg)
    assert reqs["orchestrator"].min_intelligence == 70
    assert reqs["summariser"].priority == "cost"
    assert reqs["tool_worker"] == DEFAULT_REQUIREMENTS["tool_worker"]


def test_bad_requirements_name_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text("role_requirements:\n  orchestrator: {min_intelligence: lots, priority: speed}\n")
    with pytest.raises(ConfigError) as info:
        load_requirements(cfg)
    msg = str(info.value)
    assert str(cfg) in msg and "role_requirements.orchestrator.min_intelligence" in msg
    assert "role_requirements.orchestrator.priority" in msg


def test_unknown_role_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match="orchestrator"):
        resolve_role("janitor", DEFAULT_REQUIREMENTS)
