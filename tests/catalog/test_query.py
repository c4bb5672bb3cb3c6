"""Read-only SELECT over the catalog: seed 002's four queries, and everything else refused."""

from __future__ import annotations

import pytest

from tierflow.catalog.query import run_query
from tierflow.errors import CatalogError

ORCHESTRATOR = """SELECT name, creator, intelligence, coding, price FROM llms
                  WHERE intelligence >= 55 AND coding >= 45 ORDER BY intelligence DESC LIMIT 5"""
REASONING = """SELECT name, creator, intelligence, price FROM llms
               WHERE intelligence >= 45 ORDER BY price LIMIT 5"""
TOOL = """SELECT name, creator, intelligence, coding, price FROM llms
          WHERE intelligence >= 40 AND coding >= 40 ORDER BY price LIMIT 5"""
CHEAP = """SELECT name, creator, intelligence, price, tps FROM llms
           WHERE intelligence >= 25 ORDER BY price LIMIT 5"""


def test_orchestrator_query_returns_frontier_models_best_first(con) -> None:
    res = run_query(ORCHESTRATOR, con=con)
    assert res.columns == ["name", "creator", "intelligence", "coding", "price"]
    assert len(res.rows) == 5
    rows = res.records()
    assert all(r["intelligence"] >= 55 and r["coding"] >= 45 for r in rows)
    scores = [r["intelligence"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {r["creator"] for r in rows} <= {"anthropic", "openai", "google", "xai", "deepseek", "alibaba", "zai",
                                             "moonshotai", "meta", "mistral", "xiaomi"}


@pytest.mark.parametrize("sql,minimum", [(REASONING, 45), (TOOL, 40), (CHEAP, 25)])
def test_worker_queries_return_cheapest_qualifying_models(con, sql: str, minimum: float) -> None:
    res = run_query(sql, con=con)
    rows = res.records()
    assert len(rows) == 5
    assert all(r["intelligence"] >= minimum for r in rows)
    prices = [r["price"] for r in rows]
    assert prices == sorted(p for p in prices)
    # a cheap worker is far cheaper than the best orchestrator
    top = run_query(ORCHESTRATOR, con=con).records()[0]["price"]
    assert prices[0] < top / 10


def test_with_select_and_from_first_are_selects(con) -> None:
    res = run_query("WITH t AS (SELECT slug, price FROM llms WHERE slug = 'openai/gpt-4o') SELECT * FROM t", con=con)
    assert res.rows == [("openai/gpt-4o", 4.375)]  # genai-prices: $2.50 in / $10 out, blended 3:1
    assert run_query("FROM llms SELECT count(*)", con=con).rows[0][0] > 100


@pytest.mark.parametrize("sql,expected", [
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
    ("INSERT INTO llms (name) VALUES ('x')", "only SELECT"),
    ("DELETE FROM llms", "only SELECT"),
    ("CREATE TABLE t AS SELECT 1", "only SELECT"),
    ("PRAGMA version", "only SELECT"),
    ("SET threads = 1", "only SELECT"),
    ("COPY llms TO 'out.csv'", "only SELECT"),
    ("ATTACH 'other.duckdb'", "only SELECT"),
    ("INSTALL httpfs", "only SELECT"),
    ("LOAD httpfs", "only SELECT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
    ("SELECT * FROM read_text('/etc/hostname')", "disabled"),
    ("SELECT * FROM glob('/*')", "disabled"),
])
def test_everything_but_one_select_is_refused(con, sql: str, expected: str) -> None:
    with pytest.raises(CatalogError) as info:
        run_query(sql, con=con)
    assert expected in str(info.value)


def test_bad_query_shows_database_message_and_schema(con) -> None:
    with pytest.raises(CatalogError) as info:
        run_query("SELECT nme FROM llms", con=con)
    msg = str(info.value)
    assert "nme" in msg  # the database's own message
    assert "llms(name, slug" in msg and "sources(column_name" in msg


def test_read_only_connection_cannot_write_even_inside_a_select(con) -> None:
    with pytest.raises(CatalogError):
        run_query("SELECT * FROM (SELECT 1) t, (SELECT setseed(0.5)) s WHERE false UNION "
                  "SELECT 1, 1 FROM read_parquet('x.parquet')", con=con)
    assert run_query("SELECT count(*) FROM llms", con=con).rows[0][0] > 0
