"""Validation as the user types: the library's own rules and messages, and the live previews.

A flow file is checked as ``tierflow compile`` checks it (parse, then lower with the gateway's
project config: every problem, with the compiler's words); the gateway's config as ``tierflow
serve`` loads it (:func:`tierflow.gateway.settings.load_gateway_config`, given the candidate text)
plus ``tierflow config check``'s provider checks (:meth:`tierflow.config.ProjectConfig.provider_problems`).
Problems are located for the page: a registry row (``models[2]``) or a node (``node 'classify'``),
so the editor shows each beside what it concerns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tierflow.config import ProjectConfig
from tierflow.console.files import EditableFile, models_section
from tierflow.errors import ConfigError, FlowCompileError, Problem

_ROW = re.compile(r"(?:^|[.:\s])models\[(\d+)\]")
_NODE = re.compile(r"node '([^']+)'")


@dataclass(slots=True)
class CheckResult:
    """Every problem (none: the file is valid), and the previews the page shows."""

    problems: list[Problem] = field(default_factory=list)
    summary: str = ""
    yaml: str = ""
    ir: str = ""
    project: Any = None
    settings: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": not self.problems, "summary": self.summary, "yaml": self.yaml, "ir": self.ir,
                "problems": [_located(p) for p in self.problems]}


def _located(p: Problem) -> dict[str, Any]:
    text = f"{p.where}: {p.message}" if p.where else p.message
    row, node = _ROW.search(p.where or ""), _NODE.search(text)
    return {"where": p.where, "message": p.message, "text": text,
            "row": int(row.group(1)) if row else None, "node": node.group(1) if node else None}


def check(f: EditableFile, candidate: str, project: ProjectConfig | None) -> CheckResult:
    """Check ``candidate`` (the file's next text) as the CLI would check that file."""
    if f.kind == "flow":
        return _check_flow(f, candidate, project)
    return _check_gateway(f, candidate)


def _check_flow(f: EditableFile, text: str, project: ProjectConfig | None) -> CheckResult:
    from tierflow.flowfile import emit_ir, emit_yaml, lower_flow
    from tierflow.flowfile.diagnostics import parse_flow_text

    result = CheckResult()
    try:
        flow = parse_flow_text(text, source=f.name)
    except FlowCompileError as exc:
        result.problems, result.summary = exc.problems, str(exc)
        return result
    try:
        result.yaml = emit_yaml(flow)
    except Exception:  # noqa: BLE001 - a preview of a flow that does not compile may not be writable
        result.yaml = ""
    try:
        result.ir = emit_ir(lower_flow(flow, source=f.name, project=project))
    except FlowCompileError as exc:
        result.problems, result.summary = exc.problems, str(exc)
    return result


def _check_gateway(f: EditableFile, text: str) -> CheckResult:
    """``load_gateway_config`` on the candidate text, as the file it would replace, and the provider checks."""
    from tierflow.gateway.settings import load_gateway_config
    from tierflow.ir import model_decl

    result = CheckResult()
    try:
        result.yaml = models_section(text)
    except Exception:  # noqa: BLE001 - the loader below reports the YAML error with its location
        result.yaml = ""
    try:
        project, settings = load_gateway_config(f.path, text=text, source=f.name)
    except ConfigError as exc:
        result.problems, result.summary = exc.problems, str(exc)
        return result
    result.problems = project.provider_problems()
    if result.problems:
        result.summary = str(ConfigError(result.problems, source=f.name))
        return result
    result.project, result.settings = project, settings
    result.ir = json.dumps({"models": [model_decl(e) for e in project.registry]}, indent=2, ensure_ascii=False) + "\n"
    return result


__all__ = ["CheckResult", "check"]
