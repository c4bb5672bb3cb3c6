"""Traffic splits through the gateway: served like any role, sticky per API key (or the request's
``user``), the variant in the ``x-tierflow-variant`` header, the ``tierflow`` report and the ledger."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tierflow.gateway import GatewaySettings
from tierflow.splits import SplitEntry

from .test_auth import ADMIN
from .test_ledger import wait_rows

SPLIT = "  - {role: chat, split: [{role: strong, weight: 1}, {role: fast, weight: 1}]}\n"
MSG = [{"role": "user", "content": "hello"}]
MODEL_OF = {"strong": "t/strong-model", "fast": "t/fast-model"}


def _variant(key: str) -> str:
    """What the registry's rule gives ``key`` (computed apart from the gateway)."""
    return SplitEntry.model_validate({"role": "chat", "split": [{"role": "strong", "weight": 1},
                                                                {"role": "fast", "weight": 1}]}).choose(key)


async def test_a_split_is_listed_and_sticky_per_user_with_its_variant_recorded(gateway_factory, sdk_factory,
                                                                                tmp_path: Path) -> None:
    db = tmp_path / "split.sqlite"
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05), models_yaml=SPLIT)
    client = sdk_factory(srv)
    listed = {m.id: m.model_extra for m in (await client.models.list()).data}
    assert listed["chat"]["kind"] == "split"
    assert listed["chat"]["variants"] == [{"role": "strong", "weight": 1.0}, {"role": "fast", "weight": 1.0}]
    assert listed["fast"]["kind"] == "role"
    users = [f"user-{i}" for i in range(10)]
    assert {_variant(u) for u in users} == {"strong", "fast"}  # both variants are exercised
    for user in users:
        for stream in (False, True):
            raw = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG, user=user,
                                                                         stream=stream)
            want = _variant(user)
            assert raw.headers["x-tierflow-variant"] == want and raw.headers["x-tierflow-role"] == "chat"
            assert raw.headers["x-tierflow-model"] == MODEL_OF[want]
            if stream:
                chunks = [c async for c in raw.parse()]
                assert chunks[-1].model_extra["tierflow"]["variant"] == want
            else:
                assert raw.parse().model == MODEL_OF[want]
                assert raw.parse().model_extra["tierflow"]["variant"] == want
    found = await wait_rows(db, 2 * len(users))
    assert [(r["user"], r["variant"]) for r in found] == [(u, _variant(u)) for u in users for _ in (0, 1)]


async def test_without_a_user_the_api_key_keeps_its_variant(gateway_factory, sdk_factory) -> None:
    srv = await gateway_factory(admin_key=ADMIN, models_yaml=SPLIT)
    async with aiohttp.ClientSession() as http:
        async with http.post(srv.base_url + "/admin/keys", json={"name": "k"},
                             headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
            created = await resp.json()
    client = sdk_factory(srv, api_key=created["key"])
    seen = set()
    for _ in range(6):
        raw = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
        seen.add(raw.headers["x-tierflow-variant"])
    assert seen == {_variant(created["key_id"])}
