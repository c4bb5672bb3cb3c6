"""Reading a flow file and turning everything wrong with it into located :class:`Problem`\\ s.

Every problem names where it is: ``path:line:column`` for JSON syntax errors, and
``node 'id' (nodes[3]).config.llm_role`` / ``edges[2] (a -> b).condition`` for the rest, so a
user fixes the whole file in one pass. The undeclared-role text is the compiler's documented one
(README, Flow files), kept word for word so tools can match it; a plain line with the fix follows it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tierflow.errors import FlowCompileError, Problem
from tierflow.flowfile.format import FLOW_NODE_KINDS, FLOW_SCHEMA_VERSION, FlowFile

ROLE_HEADER = "llm_role validation failed"


def role_problem(node_id: str, role: str, declared: Sequence[str], *, field: str = "llm_role") -> str:
    """The documented message for a node naming an undeclared role (tools match its first three lines
    word for word), then what is wrong and the fix in plain words, the roles in the registry's order."""
    return (f"{ROLE_HEADER}\n"
            f"  node '{node_id}': {field}='{role}' is not declared in\n"
            f"  flow.config.core_identity.models (declared: {sorted(declared)!r})\n"
            f"  role '{role}' is not declared in the registry (models): declare it or pick one of: "
            + ", ".join(declared))


def node_label(index: int, raw: Any) -> str:
    """``node 'classify' (nodes[2])``, or ``nodes[2]`` when the node has no usable id."""
    node_id = raw.get("id") if isinstance(raw, Mapping) else None
    return f"node {node_id!r} (nodes[{index}])" if isinstance(node_id, str) and node_id else f"nodes[{index}]"


def edge_label(index: int, raw: Any) -> str:
    """``edges[4] (classify -> route)``."""
    if isinstance(raw, Mapping) and isinstance(raw.get("source"), str) and isinstance(raw.get("target"), str):
        return f"edges[{index}] ({raw['source']} -> {raw['target']})"
    return f"edges[{index}]"


def parse_flow_text(text: str, *, source: str = "<flow>") -> FlowFile:
    """Parse and validate flow JSON text; raise :class:`FlowCompileError` listing every problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowCompileError([Problem(f"{source}:{exc.lineno}:{exc.colno}",
                                        f"invalid JSON: {exc.msg}")], source=source) from None
    return parse_flow_data(data, source=source)


def load_flow(path: str | Path) -> FlowFile:
    """Read and validate a flow file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowCompileError([Problem(str(path), f"cannot read the flow file: {exc.strerror}")],
                               source=str(path)) from None
    except UnicodeDecodeError:
        raise FlowCompileError([Problem(str(path), "the flow file is not UTF-8 text")], source=str(path)) from None
    return parse_flow_text(text, source=str(path))


def parse_flow_data(data: Any, *, source: str = "<flow>") -> FlowFile:
    """Validate an already-parsed flow value (a dict) into a :class:`FlowFile`."""
    if not isinstance(data, dict):
        raise FlowCompileError([Problem("", f"a flow file is a JSON object, got {type(data).__name__}")],
                               source=source)
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FLOW_SCHEMA_VERSION:
        raise FlowCompileError([Problem("schema_version", (
            f"this flow was written with schema_version {version}, newer than this tierflow supports "
            f"({FLOW_SCHEMA_VERSION}); upgrade tierflow to read it"))], source=source)
    try:
        return FlowFile.model_validate(data)
    except ValidationError as exc:
        raise FlowCompileError(validation_problems(exc, data), source=source) from None


def validation_problems(exc: ValidationError, data: Mapping[str, Any]) -> list[Problem]:
    """Pydantic errors -> problems located by node id / edge ends instead of bare indices."""
    problems: list[Problem] = []
    for err in exc.errors():
        loc = list(err["loc"])
        where, message = _locate(loc, data), _explain(err)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            where += ".kind"
        problem = Problem(where, message)
        if problem not in problems:
            problems.append(problem)
    return problems


def _locate(loc: list[Any], data: Mapping[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
        items = data.get(loc[0])
        raw = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        head = node_label(loc[1], raw) if loc[0] == "nodes" else edge_label(loc[1], raw)
        rest = loc[2:]
        if loc[0] == "nodes" and rest and rest[0] in FLOW_NODE_KINDS:  # the union's tag
            rest = rest[1:]
        rest = [r for r in rest if r not in ("str", "dict[str,any]")]  # union member names
        return head + "".join(f"[{r}]" if isinstance(r, int) else f".{r}" for r in rest)
    return ".".join(str(p) for p in loc)


def _explain(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field here (canvas data goes under 'ui')"
    if kind == "union_tag_invalid":
        return f"{err.get('ctx', {}).get('tag')!r} is not a node kind; expected one of {list(FLOW_NODE_KINDS)}"
    if kind == "union_tag_not_found":
        return f"'kind' is required; expected one of {list(FLOW_NODE_KINDS)}"
    if kind == "string_pattern_mismatch" and err["loc"][-1] == "id":
        return f"{err.get('input')!r} is not a valid node id: no dots or spaces (references read 'node_id.key')"
    if kind == "string_pattern_mismatch" and err["loc"][-1] == "callable":
        return f"{err.get('input')!r} is not an import path; expected 'package.module:function'"
    if kind == "less_than_equal" and err["loc"] == ("schema_version",):
        return f"must be at most {FLOW_SCHEMA_VERSION}"
    if "input" in err and not isinstance(err["input"], (dict, list)):
        return f"{err.get('msg', 'is invalid')} (got {_short(err['input'])})"
    return str(err.get("msg", "is invalid"))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def raise_if(problems: list[Problem], source: str | None) -> None:
    if problems:
        raise FlowCompileError(problems, source=source)


__all__ = ["ROLE_HEADER", "role_problem", "node_label", "edge_label", "parse_flow_text", "parse_flow_data",
           "load_flow", "validation_problems", "raise_if"]
