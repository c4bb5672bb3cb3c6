"""A catalog built once per session from the data shipped with tierflow, in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.catalog.build import build_catalog


@pytest.fixture(scope="session")
def catalog_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog") / "catalog.duckdb"
    build_catalog(out=out)
    return out


@pytest.fixture()
def con(catalog_path: Path):
    from tierflow.catalog.query import connect

    c = connect(catalog_path)
    yield c
    c.close()
