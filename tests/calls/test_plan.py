"""Plans: built once per name; provider/model plans bounded (least recently used dropped first)."""

from __future__ import annotations

from collections.abc import Callable

from tierflow.calls import Client
from tierflow.calls.plan import ADHOC_PLANS, Planner


def test_provider_model_plans_are_bounded_and_the_recently_used_kept(make_client: Callable[..., Client]) -> None:
    client = make_client()
    planner = Planner(client.config, client.prices, adhoc_plans=3)
    first = planner.plan("srv/m0")
    for name in ("srv/m1", "srv/m2"):
        planner.plan(name)
    assert planner.plan("srv/m0") is first  # used again: now the most recent
    planner.plan("srv/m3")  # drops m1, the least recently used
    assert planner.plan("srv/m0") is first
    assert list(planner._adhoc) == ["srv/m2", "srv/m3", "srv/m0"]


def test_role_plans_are_never_dropped(make_client: Callable[..., Client]) -> None:
    client = make_client()
    planner = Planner(client.config, client.prices, adhoc_plans=2)
    roles = {name: planner.plan(name) for name in ("primary", "fast", "llm:fast")}
    for i in range(10):
        planner.plan(f"srv/m{i}")
    assert all(planner.plan(name) is plan for name, plan in roles.items())
    assert len(planner._adhoc) == 2


async def test_a_client_calling_many_distinct_models_keeps_a_bounded_number_of_plans(
        make_client: Callable[..., Client]) -> None:
    client = make_client()
    for i in range(ADHOC_PLANS + 50):
        client.planner.plan(f"srv/model-{i}")
    assert len(client.planner._adhoc) == ADHOC_PLANS
    assert "srv/model-0" not in client.planner._adhoc and f"srv/model-{ADHOC_PLANS + 49}" in client.planner._adhoc
