"""Pytest hooks that make skips visible (loaded by ``tests/conftest.py``).

The terminal summary lists every skip reason with the test files it hit and how many tests each;
with ``CI=true`` any skip fails the run (exit 1), since CI has the shared data and, through
``scripts/bootstrap.sh``, every model the tests use.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

_SKIPS: dict[str, Counter[str]] = {}  # reason -> {test file: skipped tests}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr: Any = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    _SKIPS.setdefault(reason.removeprefix("Skipped: "), Counter())[report.nodeid.split("::")[0]] += 1


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPS and _in_ci() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _SKIPS:
        return
    total = sum(sum(files.values()) for files in _SKIPS.values())
    terminalreporter.section(f"{total} skipped, by reason", sep="-", yellow=True)
    for reason, files in sorted(_SKIPS.items(), key=lambda kv: -sum(kv[1].values())):
        terminalreporter.write_line(f"{sum(files.values())} skipped: {reason}")
        for path, n in sorted(files.items()):
            terminalreporter.write_line(f"    {path} ({n})")
    if _in_ci():
        terminalreporter.write_line(f"CI=true: {total} skipped test(s) fail the run; CI must have the shared "
                                    "data and every model (scripts/bootstrap.sh pulls them)", red=True, bold=True)
