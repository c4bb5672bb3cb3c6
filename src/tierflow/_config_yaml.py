"""Config YAML with line numbers: locate every key as ``file:line: field.path``, and ``${VAR}`` interpolation.

Private to :mod:`tierflow.config`; the problems collected here become one :class:`~tierflow.errors.ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from tierflow.errors import ConfigError, Problem

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _line_index(node: yaml.Node, path: tuple, out: dict[tuple, int], problems: list[Problem],
                source: str) -> None:
    """Map every key path to its 1-based line; report duplicate keys (YAML keeps the last)."""
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(Problem(f"{source}:{key_node.start_mark.line + 1}: {_fmt(path + (key,))}",
                                        "duplicate key (each key may appear once)"))
            seen.add(key)
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out, problems, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out, problems, source)


def _fmt(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Ctx:
    """Collects problems, each located as ``file:line: field.path``."""

    def __init__(self, source: str, lines: dict[tuple, int], env: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.lines = lines
        self.env: Mapping[str, str] = os.environ if env is None else env
        """Where ``${VAR}`` references are read."""
        self.problems: list[Problem] = []
        self.resource_keys: list[str] = []
        """In the resources form: the ``llm:<role>`` key of each model entry, for locations."""

    def where(self, path: tuple) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        loc = f"{self.source}:{line}" if line else self.source
        return f"{loc}: {_fmt(path)}" if path else loc

    def add(self, path: tuple, message: str) -> None:
        self.problems.append(Problem(self.where(path), message))

    def add_validation(self, base: tuple, exc: ValidationError) -> None:
        for err in exc.errors():
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                self.add(base + loc, "unknown key")
            elif err["type"] == "missing":
                self.add(base + loc, "is required")
            else:
                self.add(base + loc, f"{err['msg']} (got {_safe_input(base + loc, err.get('input'))})")


def _safe_input(path: tuple, value: Any) -> str:
    if any(isinstance(p, str) and ("key" in p.lower() or "secret" in p.lower() or "token" in p.lower())
           for p in path):
        return "a value (hidden)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple, int], list[Problem]]:
    problems: list[Problem] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        what = exc.problem or "invalid YAML"
        if mark and "${" in text.splitlines()[min(mark.line, len(text.splitlines()) - 1)]:
            what += ' (inside a {...} mapping, quote environment references: "${VAR}")'
        raise ConfigError([Problem(f"{source}{line}", f"invalid YAML: {what}")], source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(source, f"invalid YAML: {type(exc).__name__}")], source=source) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _line_index(node, (), lines, problems, source)
    return data, lines, problems


def _interpolate(value: Any, path: tuple, ctx: _Ctx, missing: list[str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, recording missing variables."""
    if isinstance(value, str):
        if "${" not in value:
            return value

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in ctx.env:
                return ctx.env[name]
            if default is not None:
                return default
            missing.append(name)
            ctx.add(path, f"environment variable {name} is not set")
            return ""

        return _ENV_RE.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: _interpolate(v, path + (k,), ctx, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (i,), ctx, missing) for i, v in enumerate(value)]
    return value
