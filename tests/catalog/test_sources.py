"""Where the catalog lives and where its data is found; first use builds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.catalog.query import run_query
from tierflow.catalog.sources import COLUMN_PROVENANCE, default_catalog_path, find_data_dir


def test_locations_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    assert default_catalog_path() == tmp_path / "catalog.duckdb"
    monkeypatch.setenv("TIERFLOW_CATALOG_DATA", str(tmp_path / "data"))
    assert find_data_dir() == tmp_path / "data"


def test_first_query_builds_the_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("TIERFLOW_CATALOG_DATA", str(shared_data / "catalog"))
    res = run_query("SELECT count(*) FROM llms WHERE intelligence IS NOT NULL")
    assert res.rows[0][0] > 100
    assert (tmp_path / "catalog.duckdb").is_file()
    assert "building the model catalog" in capsys.readouterr().err


def test_provenance_names_a_derivation_for_each_column() -> None:
    assert all(p.sources and len(p.derivation) > 10 for p in COLUMN_PROVENANCE)
    assert len({p.column for p in COLUMN_PROVENANCE}) == len(COLUMN_PROVENANCE)
