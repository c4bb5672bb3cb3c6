"""The skip report of tests/_skip_report.py: every skip named with its reason; CI=true fails on any."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SAMPLE = '''
import pytest

def test_runs():
    assert True

def test_needs_data():
    pytest.skip("shared data not found at /nowhere")

@pytest.mark.skipif(True, reason="run `tierflow models pull` first")
def test_needs_a_model():
    pass

@pytest.mark.xfail(reason="known")
def test_known_failure():
    assert False
'''


def _run(tmp_path: Path, ci: str | None, sample: str = SAMPLE) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                                          "from _skip_report import *  # noqa: F403\n")
    (tmp_path / "test_sample.py").write_text(sample)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path)


def test_the_summary_names_each_skip_reason_and_its_files(tmp_path: Path) -> None:
    res = _run(tmp_path, None)
    assert res.returncode == 0, res.stdout
    assert "2 skipped, by reason" in res.stdout
    assert "1 skipped: shared data not found at /nowhere" in res.stdout
    assert "1 skipped: run `tierflow models pull` first" in res.stdout
    assert "test_sample.py (1)" in res.stdout
    assert "known" not in res.stdout.split("by reason")[1]  # an xfail is not a skip


def test_with_ci_true_any_skip_fails_the_run(tmp_path: Path) -> None:
    res = _run(tmp_path, "true")
    assert res.returncode == 1, res.stdout
    assert "CI=true: 2 skipped test(s) fail the run" in res.stdout


def test_without_skips_ci_passes(tmp_path: Path) -> None:
    res = _run(tmp_path, "true", sample="def test_ok():\n    assert True\n")
    assert res.returncode == 0, res.stdout
    assert "by reason" not in res.stdout
