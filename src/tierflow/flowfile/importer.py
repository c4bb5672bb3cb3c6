"""Import: a YAML deploy manifest -> a flow file.

The ``core.scaiflow_meta`` block that :mod:`tierflow.flowfile.emit_yaml` writes is preferred and
makes flow -> YAML -> flow lossless. A hand-written manifest without it is lifted the documented
way: ``core.model: "<ref>/<model>"`` becomes the one-entry registry ``[{role: primary, ref, model}]``
(split at the first ``/``): lossy, but it compiles. A manifest without ``steps`` becomes the
smallest runnable flow, entry -> exit. YAML is read with the shared
safe loader, which refuses alias bombs. DSL text is refused with a message saying what import
reads: the DSL is a one-way view (see :mod:`tierflow.flowfile.emit_dsl`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tierflow._yaml import load_yaml
from tierflow.errors import FlowCompileError, Problem
from tierflow.flowfile.diagnostics import parse_flow_data
from tierflow.flowfile.emit_yaml import CANVAS_KEYS
from tierflow.flowfile.format import FLOW_SCHEMA_VERSION, FlowFile

_INFORMATIVE_STEP_KEYS = ("resolved_model",)


SUPPORTED = ("tierflow import reads YAML deploy manifests (what `tierflow compile -f yaml` writes, or a "
             "hand-written one with core.name and core.model); flow JSON files need no import")


def import_manifest_text(text: str, *, source: str = "<manifest>") -> FlowFile:
    """Parse manifest YAML text into a validated :class:`FlowFile`."""
    if _looks_like_dsl(text, source):
        raise FlowCompileError([Problem(source, (
            "this is DSL text, which cannot be imported: the DSL is a one-way view of a flow (its models "
            f"and LLM blocks, without prompts, code, branches or edges). {SUPPORTED}"))], source=source)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise FlowCompileError([Problem(where, f"invalid YAML: {problem}; {SUPPORTED}")], source=source) from None
    return parse_flow_data(flow_data_from_manifest(data, source=source), source=source)


def _looks_like_dsl(text: str, source: str) -> bool:
    """A ``.dsl`` file, or text whose first statement is a DSL block or a ``//`` comment."""
    if source.endswith(".dsl"):
        return True
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first.startswith(("//", "@models"))


def import_manifest(path: str | Path) -> FlowFile:
    """Read a manifest file into a validated :class:`FlowFile`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise FlowCompileError([Problem(str(path), f"cannot read the manifest: {reason}")],
                               source=str(path)) from None
    return import_manifest_text(text, source=str(path))


def flow_data_from_manifest(data: Any, *, source: str = "<manifest>") -> dict[str, Any]:
    """The flow JSON value of a parsed manifest (validated afterwards by the caller)."""
    core = data.get("core") if isinstance(data, dict) else None
    if not isinstance(core, dict):
        raise FlowCompileError([Problem("core", f"a manifest needs a 'core' mapping with 'name' and 'model'; "
                                                f"{SUPPORTED}")], source=source)
    meta = core.get("scaiflow_meta")
    meta = meta if isinstance(meta, dict) else {}
    models = meta.get("models") if "models" in meta else _lift_core_model(core, source)
    flow: dict[str, Any] = {
        "schema_version": meta.get("schema_version", FLOW_SCHEMA_VERSION),
        "config": {"core_identity": {"name": core.get("name") or "imported", "models": models}},
    }
    if "description" in meta:
        flow["config"]["description"] = meta["description"]
    if "variables" in meta:
        flow["variables"] = meta["variables"]
    steps = data.get("steps")
    if steps is None:
        flow["nodes"] = [{"id": "start", "kind": "entry"}, {"id": "end", "kind": "exit"}]
        flow["edges"] = [{"source": "start", "target": "end"}]
    else:
        if not isinstance(steps, list):
            raise FlowCompileError([Problem("steps", f"expected a list of steps, got {type(steps).__name__}")],
                                   source=source)
        flow["nodes"] = [_node_from_step(s) for s in steps]
        if "edges" in data:
            flow["edges"] = data["edges"]
    if "meta" in meta:
        flow["meta"] = meta["meta"]
    return flow


def _lift_core_model(core: dict[str, Any], source: str) -> list[dict[str, Any]]:
    spec = core.get("model")
    ref, sep, model = spec.partition("/") if isinstance(spec, str) else ("", "", "")
    if not sep or not ref or not model:
        raise FlowCompileError([Problem("core.model", f"expected '<provider>/<model>' (e.g. "
                                                      f"'openai/gpt-4o'), got {spec!r}; or add "
                                                      "core.scaiflow_meta.models")], source=source)
    return [{"role": "primary", "ref": ref, "model": model}]


def _node_from_step(step: Any) -> Any:
    if not isinstance(step, dict):
        return step  # reported by validation, located as nodes[i]
    node = {k: v for k, v in step.items() if k not in ("scaiflow_meta", *_INFORMATIVE_STEP_KEYS)}
    canvas = step.get("scaiflow_meta")
    if isinstance(canvas, dict):
        node.update({k: canvas[k] for k in CANVAS_KEYS if k in canvas})
    return node


__all__ = ["SUPPORTED", "import_manifest", "import_manifest_text", "flow_data_from_manifest"]
