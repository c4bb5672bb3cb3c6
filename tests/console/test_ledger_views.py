"""The runs and cost queries on a real ledger file: keyset pages, filters, indexes, sums."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.console.ledger_views import LedgerViews
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
    assert sum(r["unpriced_calls"] for r in data) == 2  # r007 and r100: never counted as free
    with pytest.raises(GatewayError, match="'by' must be one of"):
        views.cost({"by": "user"})
