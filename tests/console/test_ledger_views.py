"""The runs and cost queries on a real ledger file: keyset pages, filters, indexes, sums."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.console.ledger_views import ROUTED_SQL, LedgerViews
from tierflow.errors import GatewayError

from .conftest import add_requests

T0 = 1_780_000_000.0


@pytest.fixture
def views(tmp_path: Path) -> LedgerViews:
    rows = [{"request_id": f"r{i:03d}", "ts": T0 + i * 600, "role": "fast" if i % 3 else "strong",
             "model": "t/fast-model" if i % 3 else "t/strong-model", "key_id": f"key-{i % 2}",
             "status": 200 if i % 5 else 502, "outcome": "ok" if i % 5 else "error",
             "cost_usd": None if i == 7 else 0.001 * (1 + i % 3), "input_tokens": 10, "output_tokens": 5}
            for i in range(100)]
    rows.append({"request_id": "r100", "ts": T0 + 99 * 600, "role": "fast", "model": "t/fast-model"})  # same ts
    add_requests(tmp_path / "gw.sqlite", rows)
    v = LedgerViews(tmp_path / "gw.sqlite")
    yield v
    v.close()


def test_pages_cover_every_request_once_newest_first(views: LedgerViews) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = views.runs({"limit": "7", **({"before": cursor} if cursor else {})})
        seen += [r["request_id"] for r in page["data"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen[:2] == ["r100", "r099"] and len(seen) == 101 and len(set(seen)) == 101
    assert seen[2:] == [f"r{i:03d}" for i in range(98, -1, -1)]


def test_filters(views: LedgerViews) -> None:
    page = views.runs({"role": "strong", "status": "502", "limit": "200"})
    assert {r["request_id"] for r in page["data"]} == {f"r{i:03d}" for i in range(0, 100, 15)}
    since = views.runs({"since": str(T0 + 95 * 600), "until": str(T0 + 98 * 600), "limit": "200"})
    assert [r["request_id"] for r in since["data"]] == ["r097", "r096", "r095"]
    assert views.runs({"key": "key-1", "limit": "200"})["data"][0]["key_id"] == "key-1"
    with pytest.raises(GatewayError, match="'limit' must be a whole number from 1 to 200"):
        views.runs({"limit": "5000"})


@pytest.mark.parametrize("query", [{}, {"role": "fast"}, {"model": "t/fast-model"}, {"status": "200"},
                                   {"key": "key-1"}, {"outcome": "ok"}])
def test_every_filtered_page_is_read_off_an_index_unsorted(views: LedgerViews, query: dict[str, str]) -> None:
    import sqlite3

    views.runs({})  # creates the indexes
    conn = sqlite3.connect(views.path)
    where = " AND ".join(f"{ {'key': 'key_id'}.get(k, k)} = ?" for k in query)
    plan = " | ".join(str(r[-1]) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM requests" + (f" WHERE {where}" if where else "")
        + " ORDER BY ts DESC, request_id DESC LIMIT 51", list(query.values())))
    conn.close()
    assert "console_requests_" in plan and "TEMP B-TREE" not in plan, plan


def test_a_request_with_its_attempts(views: LedgerViews) -> None:
    run = views.run("r005")
    assert run["status"] == 502 and run["attempt_rows"] == []
    with pytest.raises(GatewayError, match="no request 'nope'"):
        views.run("nope")


def test_cost_by_role_per_day(views: LedgerViews) -> None:
    data = views.cost({"by": "role", "bucket": "day", "since": str(T0 - 1)})["data"]
    assert sum(r["calls"] for r in data) == 101
    strong = sum(r["cost_usd"] for r in data if r["group"] == "strong")
    assert strong == pytest.approx(0.001 * 34)
    assert sum(r["unpriced_calls"] for r in data) == 1  # r007: tokens and no cost; r100 used none, so cost $0
    with pytest.raises(GatewayError, match="'by' must be one of"):
        views.cost({"by": "user"})


def test_a_request_that_used_no_tokens_costs_nothing_priced_or_not(tmp_path: Path) -> None:
    import time

    path = tmp_path / "gw.sqlite"
    now = time.time()
    add_requests(path, [
        {"request_id": "failed", "ts": now - 5 * 86400, "role": "a", "status": 502, "outcome": "error"},  # no usage
        {"request_id": "zero", "ts": now - 5 * 86400 + 1, "role": "a", "input_tokens": 0, "output_tokens": 0},
        {"request_id": "unpriced", "ts": now - 5 * 86400 + 2, "role": "a", "input_tokens": 7, "output_tokens": 1},
        {"request_id": "live", "ts": now - 60, "role": "a", "status": 502, "outcome": "error"}])  # not rolled up yet
    views = LedgerViews(path)
    for query in ({}, {"status": "502"}):  # from the hourly roll-ups, and from the requests themselves
        data = views.cost({"by": "role", "since": str(now - 6 * 86400), **query})["data"]
        assert sum(r["unpriced_calls"] for r in data) == (1 if not query else 0), query
        assert sum(r["calls"] for r in data) == (4 if not query else 2) and sum(r["cost_usd"] for r in data) == 0
    views.close()


def test_roll_ups_made_by_an_older_definition_are_made_again(tmp_path: Path) -> None:
    import sqlite3
    import time

    path = tmp_path / "gw.sqlite"
    now = time.time()
    add_requests(path, [{"request_id": "failed", "ts": now - 5 * 86400, "role": "a", "status": 502}])
    first = LedgerViews(path)
    first.warm()  # rolled up
    first.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE console_cost_hourly SET unpriced = 1")  # as the roll-up of before counted it
    conn.execute("DELETE FROM console_cost_state WHERE dim = '#version'")
    conn.commit()
    conn.close()
    views = LedgerViews(path)
    data = views.cost({"by": "role", "since": str(now - 6 * 86400)})["data"]
    assert [(r["calls"], r["unpriced_calls"]) for r in data] == [(1, 0)]
    views.close()


def _raw_cost(path: Path, by: str, size: int, since: float) -> list[tuple[float, str, int, float, int, int]]:
    import sqlite3

    column = {"key": "key_id"}.get(by, by)
    conn = sqlite3.connect(path)
    rows = conn.execute(f"SELECT CAST(ts / {size} AS INTEGER) * {size}, {column}, COUNT(*), COALESCE(SUM(cost_usd), 0), "
                        "SUM(cost_usd IS NULL AND COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0) > 0), SUM(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)) "
                        "FROM requests WHERE ts >= ? GROUP BY 1, 2 ORDER BY 1, 2", (since,)).fetchall()
    conn.close()
    return [(b, g, n, pytest.approx(c), u, t) for b, g, n, c, u, t in rows]


@pytest.mark.parametrize(("by", "bucket", "size"), [("role", "day", 86400), ("model", "hour", 3600),
                                                     ("key", "day", 86400)])
def test_cost_from_the_hourly_roll_ups_equals_the_requests(tmp_path: Path, by: str, bucket: str, size: int) -> None:
    import time

    now = time.time()
    path = tmp_path / "gw.sqlite"
    add_requests(path, [{"request_id": f"a{i}", "ts": now - i * 397.0, "role": f"r{i % 4}", "model": f"m{i % 5}",
                         "key_id": f"k{i % 3}", "cost_usd": None if i % 11 == 0 else 0.001 * (i % 7),
                         "input_tokens": 0 if i % 22 == 0 else i % 50, "output_tokens": 0 if i % 22 == 0 else 3}
                        for i in range(800)])  # 3.7 days, to now; every 22nd failed with no tokens and no cost
    views = LedgerViews(path)
    since = now - 3 * 86400 + 123.0  # not on an hour
    got = views.cost({"by": by, "bucket": bucket, "since": str(since)})["data"]
    assert [(r["bucket"], r["group"], r["calls"], r["cost_usd"], r["unpriced_calls"], r["tokens"]) for r in got] == \
        _raw_cost(path, by, size, since)
    add_requests(path, [{"request_id": f"b{i}", "ts": now - 30 - i, "role": "r0", "model": "m0", "key_id": "k0",
                         "cost_usd": 0.5} for i in range(5)])  # new requests: in the live part at once
    got = views.cost({"by": by, "bucket": bucket, "since": str(since)})["data"]
    assert [(r["bucket"], r["group"], r["calls"], r["cost_usd"], r["unpriced_calls"], r["tokens"]) for r in got] == \
        _raw_cost(path, by, size, since)
    views.close()


def test_a_routed_roles_figures_are_read_off_the_role_index(tmp_path: Path) -> None:
    import json
    import sqlite3

    path = tmp_path / "gw.sqlite"
    add_requests(path, [{"request_id": f"a{i}", "ts": T0 + i, "role": "auto" if i % 5 else "fast",
                         "decision": json.dumps({"chosen": ["fast", "primary"][i % 2]}) if i % 7 else None,
                         "cost_usd": None if i % 3 == 0 else 0.001 * (1 + i % 2)} for i in range(200)])
    views = LedgerViews(path)
    got = views.routed("auto", T0 + 50)
    mine = [i for i in range(50, 200) if i % 5]
    priced = [i for i in mine if i % 3]
    assert got["requests"] == len(mine) and got["priced_requests"] == len(priced)
    assert got["mean_cost_usd"] == pytest.approx(sum(0.001 * (1 + i % 2) for i in priced) / len(priced))
    counts: dict[str | None, int] = {}
    for i in mine:
        chosen = ["fast", "primary"][i % 2] if i % 7 else None
        counts[chosen] = counts.get(chosen, 0) + 1
    assert {r["role"]: r["calls"] for r in got["chosen"]} == counts
    assert [r["calls"] for r in got["chosen"]] == sorted(counts.values(), reverse=True)
    assert views.routed("nobody", T0)["mean_cost_usd"] is None
    views.close()
    conn = sqlite3.connect(path)
    plan = " | ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + ROUTED_SQL, ("auto", T0)))
    conn.close()
    assert "console_requests_role" in plan, plan
