"""A cached catalog knows what it was built from: rebuilt when a source changes, is damaged or is older."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tierflow.catalog.build import build_catalog
from tierflow.catalog.freshness import stale_reason
from tierflow.catalog.query import run_query
from tierflow.catalog.sources import SOURCE_FILES, ResolvedSource, shipped_source

PRICE_SQL = "SELECT input_price, price_source FROM llms WHERE slug = 'local/acme-one'"


def _tryaii_copy(folder: Path) -> Path:
    """An override folder holding a copy of the shipped tryaii starter catalog."""
    shipped = shipped_source(next(s for s in SOURCE_FILES if s.name == "tryaii"))
    assert isinstance(shipped, ResolvedSource)
    target = folder / "tryaii_starter_catalog" / "models.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(shipped.path.read_bytes())
    return target


def _set_price(models_json: Path, model_id: str, input_per_1k: float) -> None:
    doc = json.loads(models_json.read_text())
    hit = next(m for m in doc["models"] if m["model_id"] == model_id)
    hit["pricing"]["input_per_1k"] = input_per_1k
    models_json.write_text(json.dumps(doc))


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TIERFLOW_CATALOG_DATA", raising=False)
    return tmp_path / "home"


def test_a_changed_source_rebuilds_the_cached_catalog(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    models_json = _tryaii_copy(tmp_path / "data")
    monkeypatch.setenv("TIERFLOW_CATALOG_DATA", str(tmp_path / "data"))
    sql = "SELECT count(*) FROM raw_tryaii WHERE input_per_1k = 123.0"
    assert run_query(sql).rows == [(0,)]
    assert "(first use)" in capsys.readouterr().err
    assert run_query(sql).rows == [(0,)]  # unchanged sources: no rebuild
    assert capsys.readouterr().err == ""
    first = json.loads(models_json.read_text())["models"][0]["model_id"]
    _set_price(models_json, first, 123.0)
    assert run_query(sql).rows == [(1,)]
    assert "source tryaii changed (new content)" in capsys.readouterr().err
    assert stale_reason(home / "catalog.duckdb")[0] is None


def test_switching_to_another_data_folder_rebuilds(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run_query("SELECT 1")
    capsys.readouterr()
    _tryaii_copy(tmp_path / "data")
    monkeypatch.setenv("TIERFLOW_CATALOG_DATA", str(tmp_path / "data"))
    run_query("SELECT 1")
    err = capsys.readouterr().err
    assert "source tryaii changed (package tryaii" in err and f"-> folder {tmp_path / 'data'})" in err
    origin = run_query("SELECT origin FROM source_files WHERE source = 'tryaii'").rows[0][0]
    assert origin == f"folder {tmp_path / 'data'}"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "older"])
def test_a_damaged_or_older_catalog_is_rebuilt_not_used(home: Path, damage: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = home / "catalog.duckdb"
    home.mkdir()
    if damage == "older":  # what an older tierflow without the shipped data left: prices only, no build_info
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE llms AS SELECT 'openai/gpt-4o' AS slug, NULL::DOUBLE AS intelligence")
        con.close()
    else:
        build_catalog(out=path)
        data = path.read_bytes()
        path.write_bytes(b"x" * 4096 if damage == "garbage" else data[: len(data) // 2])
    rows = run_query("SELECT count(*) FROM llms WHERE intelligence IS NOT NULL").rows
    assert rows[0][0] > 100
    err = capsys.readouterr().err
    assert ("built by an older tierflow" if damage == "older" else "the cached catalog is damaged") in err


def test_an_override_file_is_part_of_the_fingerprint(home: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    overrides = tmp_path / "mine.csv"
    overrides.write_text("slug,name,input_price,output_price\nlocal/acme-one,Acme One,1.0,2.0\n")
    build_catalog(out=home / "catalog.duckdb", overrides=[overrides])
    assert run_query(PRICE_SQL).rows == [(1.0, "override")]
    overrides.write_text("slug,name,input_price,output_price\nlocal/acme-one,Acme One,3.0,2.0\n")
    assert run_query(PRICE_SQL).rows == [(3.0, "override")]  # the same recipe, rebuilt with the new file
    assert f"override {overrides} changed" in capsys.readouterr().err
    overrides.unlink()
    assert run_query(PRICE_SQL).rows == []
    assert f"its override file {overrides} is gone" in capsys.readouterr().err


def test_a_rebuild_reports_models_added_removed_and_prices_moved(tmp_path: Path) -> None:
    out = tmp_path / "c.duckdb"
    a = tmp_path / "a.csv"
    a.write_text("slug,name,input_price,output_price\nlocal/acme-one,Acme One,1.0,2.0\n"
                 "local/acme-two,Acme Two,1.0,2.0\n")
    first = build_catalog(out=out, overrides=[a])
    assert first.changes is None  # nothing to compare with
    a.write_text("slug,name,input_price,output_price\nlocal/acme-one,Acme One,1.5,2.0\n"
                 "local/acme-three,Acme Three,1.0,2.0\n")
    changes = build_catalog(out=out, overrides=[a]).changes
    assert changes is not None
    assert changes.added == ["local/acme-three"] and changes.removed == ["local/acme-two"]
    assert changes.moved == [("local/acme-one", (1.0, 2.0), (1.5, 2.0))]
    text = "\n".join(changes.lines())
    assert "1 model(s) added: local/acme-three" in text and "local/acme-one: $1 / $2 -> $1.5 / $2" in text
