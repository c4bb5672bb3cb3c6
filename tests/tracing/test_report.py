"""``tierflow cost report``: totals by key over a real ledger file, the plot, JSON, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.errors import LedgerError
from tierflow.gateway.ledger import connect
from tierflow.tracing._synthetic import fill_ledger
from tierflow.tracing.report import cost_report, parse_since

runner = CliRunner()
DAY = 86400.0
T0 = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))  # the rollup cache lives there


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    fill_ledger(path, 400, start=T0, span_s=10 * DAY)
    return path


def test_totals_by_model_add_up_and_are_ordered_by_cost(ledger: Path) -> None:
    report = cost_report(ledger, by="model")
    assert report.bucket == "day"
    assert [r.key for r in report.rows][0] == "t/strong-model"
    assert report.total.calls == 400 and sum(r.calls for r in report.rows) == 400
    with connect(ledger) as conn:
        cost = conn.execute("SELECT SUM(cost_usd) FROM requests").fetchone()[0]
        errors = conn.execute("SELECT COUNT(*) FROM requests WHERE outcome != 'ok'").fetchone()[0]
    assert report.total.cost_usd == pytest.approx(cost) and report.total.errors == errors
    assert sum(c for s in report.series.values() for c, _ in s.values()) == 400


def test_by_day_and_since(ledger: Path) -> None:
    report = cost_report(ledger, by="day", since=T0 + 5 * DAY)
    assert [r.key for r in report.rows] == [f"2026-11-{d:02d}" for d in range(6, 11)]
    assert report.total.calls == 200
    by_key = {r.key: r.calls for r in cost_report(ledger, by="key").rows}
    assert by_key == {"key-a": 100, "key-b": 100, "key-c": 100, "(none)": 100}


def test_parse_since_reads_spans_and_dates() -> None:
    assert parse_since("7d", now=1000 * DAY) == 993 * DAY
    assert parse_since("2026-11-06") == T0 + 5 * DAY
    with pytest.raises(LedgerError, match="--since 'yesterday'"):
        parse_since("yesterday")


def test_the_cli_prints_a_table_and_draws_png_and_html(ledger: Path, tmp_path: Path) -> None:
    png, page = tmp_path / "cost.png", tmp_path / "cost.html"
    out = runner.invoke(app, ["cost", "report", "--ledger", str(ledger), "--by", "role", "--plot", str(png)])
    assert out.exit_code == 0, out.output
    assert "strong" in out.stdout and "total" in out.stdout and "400" in out.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = runner.invoke(app, ["cost", "report", "--ledger", str(ledger), "--by", "variant", "--plot", str(page)])
    assert out.exit_code == 0 and "<svg" in page.read_text() and "candidate" in page.read_text()


def test_json_for_scripts(ledger: Path) -> None:
    out = runner.invoke(app, ["cost", "report", "--ledger", str(ledger), "--by", "model", "--json"])
    data = json.loads(out.stdout)
    assert data["total"]["calls"] == 400 and {r["key"] for r in data["rows"]} == {
        "t/fast-model", "t/strong-model", "t/backup-model"}


def test_an_empty_period_says_so(ledger: Path) -> None:
    out = runner.invoke(app, ["cost", "report", "--ledger", str(ledger), "--since", "2030-01-01"])
    assert out.exit_code == 0 and "no requests in ledger" in out.stderr and "since 2030-01-01" in out.stderr


def test_a_damaged_or_foreign_ledger_is_refused_with_its_path(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"this is not a database" * 100)
    out = runner.invoke(app, ["cost", "report", "--ledger", str(damaged)])
    assert out.exit_code == 1 and str(damaged) in out.stderr and "damaged" in out.stderr
    assert "Traceback" not in out.output
    missing = tmp_path / "none.sqlite"
    out = runner.invoke(app, ["cost", "report", "--ledger", str(missing)])
    assert out.exit_code == 1 and "does not exist" in out.stderr
    bad_by = runner.invoke(app, ["cost", "report", "--ledger", str(damaged), "--by", "colour"])
    assert bad_by.exit_code == 1 and "--by 'colour'" in bad_by.stderr


def test_the_cached_rollup_follows_appended_and_replaced_rows(ledger: Path) -> None:
    assert cost_report(ledger).total.calls == 400
    fill_ledger(ledger, 50, start=T0 + 11 * DAY, span_s=DAY, seed=1)
    assert cost_report(ledger).total.calls == 450  # only the new rows are folded in
    with connect(ledger) as conn:
        conn.execute("UPDATE requests SET cost_usd = 1.0 WHERE request_id = 'r0-0'")
        conn.execute("INSERT OR REPLACE INTO requests SELECT * FROM requests WHERE request_id = 'r0-1'")
        cost = conn.execute("SELECT SUM(cost_usd) FROM requests").fetchone()[0]
    report = cost_report(ledger)  # a replaced row (same count, new rowid) rebuilds the rollup
    assert report.total.calls == 450 and report.total.cost_usd == pytest.approx(cost)
