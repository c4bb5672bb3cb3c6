"""The compiler's entry points: flow -> IR -> text in one of the back-end formats.

Compilation always lowers (and validates) the whole flow first, so an invalid flow produces
no output at all; :func:`write_atomic` then replaces the output file in one step, keeping its
file mode (:func:`tierflow._files.atomic_write`).

The IR and YAML formats carry the whole flow. The DSL is a one-way view (README, Flow files): it
holds the model registry and the LLM blocks only, so compiling to it warns
(:class:`DSLViewWarning`) about every node and edge it leaves out.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tierflow._files import atomic_write
from tierflow.flowfile.diagnostics import load_flow
from tierflow.flowfile.emit_dsl import dsl_omissions, emit_dsl
from tierflow.flowfile.emit_ir import emit_ir
from tierflow.flowfile.emit_yaml import emit_yaml
from tierflow.flowfile.format import FlowFile
from tierflow.flowfile.lower import lower_flow

if TYPE_CHECKING:
    from tierflow.config import ProjectConfig

OutputFormat = Literal["ir", "yaml", "dsl"]
FORMATS: tuple[str, ...] = ("ir", "yaml", "dsl")


class DSLViewWarning(UserWarning):
    """Compiling to the DSL left nodes or edges out (the DSL is a view of models and LLM blocks)."""


def compile_flow(flow: FlowFile, fmt: OutputFormat, *, source: str | None = None,
                 project: ProjectConfig | None = None) -> str:
    """Lower ``flow`` (raising :class:`FlowCompileError` on any problem) and emit it as ``fmt``.

    ``project`` adds the checks of providers and routed roles against that project config.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {list(FORMATS)}")
    module = lower_flow(flow, source=source, project=project)
    if fmt == "ir":
        return emit_ir(module)
    if fmt == "yaml":
        return emit_yaml(flow)
    omitted = dsl_omissions(module)
    if omitted:
        warnings.warn(omitted, DSLViewWarning, stacklevel=2)
    return emit_dsl(module)


def compile_file(path: str | Path, fmt: OutputFormat, *, project: ProjectConfig | None = None) -> str:
    """Read, validate and compile a flow file."""
    return compile_flow(load_flow(path), fmt, source=str(path), project=project)


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, keeping the file's mode (the shared helper)."""
    atomic_write(path, text)


__all__ = ["OutputFormat", "FORMATS", "DSLViewWarning", "compile_flow", "compile_file", "dsl_omissions",
           "write_atomic"]
