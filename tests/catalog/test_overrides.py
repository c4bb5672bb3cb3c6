"""User overrides from CSV/JSON: validated with file/row/field messages, then applied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierflow.catalog.build import build_catalog
from tierflow.catalog.overrides import read_overrides
from tierflow.catalog.query import connect
from tierflow.errors import CatalogError


def test_csv_and_json_overrides_add_and_correct_models(tmp_path: Path) -> None:
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text("slug,name,intelligence,coding,input_price,output_price,context_window,modalities,"
                        "open_weights\n"
                        "acme/acme-large,Acme Large,61,52,1.0,5.0,200000,text|image,false\n")
    json_file = tmp_path / "fix.json"
    json_file.write_text(json.dumps([{"slug": "openai/gpt-4o", "intelligence": 40.5}]))
    out = tmp_path / "c.duckdb"
    build_catalog(out=out, overrides=[csv_file, json_file])
    con = connect(out)
    try:
        acme = con.execute("SELECT name, creator, intelligence, price, modalities, open_weights, score_source, "
                           "price_source FROM llms WHERE slug = 'acme/acme-large'").fetchone()
        assert acme == ("Acme Large", "acme", 61.0, 2.0, ["text", "image"], False, "override", "override")
        gpt = con.execute("SELECT intelligence, price, score_source FROM llms WHERE slug = 'openai/gpt-4o'").fetchone()
        assert gpt == (40.5, 4.375, "override")
        src = con.execute("SELECT rows FROM source_files WHERE source = 'overrides'").fetchone()
        assert src == (2,)
    finally:
        con.close()


def test_wrong_types_name_file_row_line_and_field(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("slug,intelligence,context_window,release_date\n"
                 "acme/ok,50,1000,2025-01-01\n"
                 "acme/bad,high,lots,yesterday\n")
    with pytest.raises(CatalogError) as info:
        read_overrides(f)
    msg = str(info.value)
    assert f"{f}:row 2 (line 3), field 'intelligence': expected a number, got 'high'" in msg
    assert "field 'context_window'" in msg and "field 'release_date'" in msg
    assert "row 1" not in msg


def test_missing_slug_column_and_unknown_columns(tmp_path: Path) -> None:
    f = tmp_path / "noslug.csv"
    f.write_text("name,price\nx,1\n")
    with pytest.raises(CatalogError, match="missing column 'slug'"):
        read_overrides(f)
    j = tmp_path / "extra.json"
    j.write_text(json.dumps({"models": [{"slug": "a/b", "iq": 3}, {"name": "no slug"}]}))
    with pytest.raises(CatalogError) as info:
        read_overrides(j)
    msg = str(info.value)
    assert "row 0, field 'iq': is not a catalog column" in msg
    assert "row 1, field 'slug': is required" in msg


def test_unsupported_or_missing_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        read_overrides(tmp_path / "nope.csv")
    t = tmp_path / "x.txt"
    t.write_text("slug\n")
    with pytest.raises(CatalogError, match=".csv or .json"):
        read_overrides(t)
