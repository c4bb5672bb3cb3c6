"""The public surface: every exported name resolves, and importing the package stays lazy."""

from __future__ import annotations

import subprocess
import sys

import tierflow


def test_every_exported_name_resolves() -> None:
    missing = [name for name in tierflow.__all__ if getattr(tierflow, name, None) is None]
    assert missing == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        tierflow.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_is_lazy() -> None:
    # the CLI's start-up time depends on `import tierflow` not loading the call layer or pydantic models
    code = "import sys, tierflow; print(sorted(m for m in sys.modules if m.startswith('tierflow')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tierflow']"
