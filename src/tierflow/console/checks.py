"""Validation as the user types: the library's own rules and messages, and the live previews.

A flow file is checked as ``tierflow compile`` checks it (parse, then lower with the gateway's
project config: every problem, with the compiler's words); the gateway's config as ``tierflow
serve`` loads it (:func:`tierflow.gateway.settings.load_gateway_config`) plus ``tierflow config
check``'s provider checks. Problems are located for the page: a registry row (``models[2]``) or a
node (``node 'classify'``), so the editor shows each beside what it concerns.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
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
    """``load_gateway_config`` on the candidate, written to a private temporary copy of the file."""
    from tierflow.gateway.settings import load_gateway_config
    from tierflow.ir import model_decl

    result = CheckResult()
    try:
        result.yaml = models_section(text)
    except Exception:  # noqa: BLE001 - the loader below reports the YAML error with its location
        result.yaml = ""
    with tempfile.TemporaryDirectory(prefix="tierflow-console-") as tmp:
        copy = Path(tmp) / f.path.name
        copy.write_text(text, encoding="utf-8")
        try:
            project, settings = load_gateway_config(copy)
        except ConfigError as exc:
            result.problems = [Problem(p.where.replace(str(copy), f.name), p.message) for p in exc.problems]
            result.summary = str(ConfigError(result.problems, source=f.name))
            return result
    project.source = str(f.path)
    if settings.database is not None and settings.database.startswith(tmp):
        settings.database = str(f.path.parent / Path(settings.database).relative_to(tmp))
    result.problems = provider_problems(project)
    if result.problems:
        result.summary = str(ConfigError(result.problems, source=f.name))
        return result
    result.project, result.settings = project, settings
    result.ir = json.dumps({"models": [model_decl(e) for e in project.registry]}, indent=2, ensure_ascii=False) + "\n"
    return result


def provider_problems(project: ProjectConfig) -> list[Problem]:
    """``tierflow config check``'s provider checks: every target's provider is usable (key set)."""
    problems: list[Problem] = []
    for entry in project.registry:
        for target in entry.chain:
            try:
                project.provider_settings(target.ref)
            except ConfigError as exc:
                problems.extend(Problem(f"role {entry.role!r}: {p.where}", p.message) for p in exc.problems)
    return problems


__all__ = ["CheckResult", "check", "provider_problems"]
