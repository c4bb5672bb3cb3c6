"""The compiler's entry points: flow -> IR -> text in one of the back-end formats.

Compilation always lowers (and validates) the whole flow first, so an invalid flow produces
no output at all; :func:`write_atomic` then replaces the output file in one step.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

from tierflow.flowfile.diagnostics import load_flow
from tierflow.flowfile.emit_dsl import emit_dsl
from tierflow.flowfile.emit_ir import emit_ir
from tierflow.flowfile.emit_yaml import emit_yaml
from tierflow.flowfile.format import FlowFile
from tierflow.flowfile.lower import lower_flow

OutputFormat = Literal["ir", "yaml", "dsl"]
FORMATS: tuple[str, ...] = ("ir", "yaml", "dsl")


def compile_flow(flow: FlowFile, fmt: OutputFormat, *, source: str | None = None) -> str:
    """Lower ``flow`` (raising :class:`FlowCompileError` on any problem) and emit it as ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {list(FORMATS)}")
    module = lower_flow(flow, source=source)
    if fmt == "ir":
        return emit_ir(module)
    if fmt == "yaml":
        return emit_yaml(flow)
    return emit_dsl(module)


def compile_file(path: str | Path, fmt: OutputFormat) -> str:
    """Read, validate and compile a flow file."""
    return compile_flow(load_flow(path), fmt, source=str(path))


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["OutputFormat", "FORMATS", "compile_flow", "compile_file", "write_atomic"]
