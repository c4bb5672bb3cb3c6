"""Shared fixtures: where the shared data lives, and the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """``$TIERFLOW_SHARED_DATA`` or ``../shared/data`` next to the repository."""
    return Path(os.environ.get("TIERFLOW_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set TIERFLOW_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
