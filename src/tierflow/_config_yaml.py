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

from tierflow._yaml import YAMLTooLargeError, compose_yaml, load_yaml
from tierflow.errors import ConfigError, Problem
from tierflow.provider_settings import safe_url

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _line_index(root: yaml.Node, out: dict[tuple[Any, ...], int], problems: list[Problem], source: str) -> None:
    """Map every key path to its 1-based line; report duplicate keys (YAML keeps the last).

    Iterative (a deeply nested file must not exhaust Python's stack), and a node reached again
    through an alias is not walked again (its lines are those of its anchor).
    """
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        out.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:
                    problems.append(Problem(f"{source}:{key_node.start_mark.line + 1}: {_fmt(path + (key,))}",
                                            "duplicate key (each key may appear once)"))
                seen.add(key)
                out[path + (key,)] = key_node.start_mark.line + 1
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (i,)) for i, item in enumerate(node.value))


def _fmt(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Ctx:
    """Collects problems, each located as ``file:line: field.path``; never shows a secret or an
    environment variable's value."""

    def __init__(self, source: str, lines: dict[tuple[Any, ...], int], env: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.lines = lines
        self.env: Mapping[str, str] = os.environ if env is None else env
        """Where ``${VAR}`` references are read."""
        self.env_values: set[str] = set()
        """The values ``${VAR}`` references were replaced by: never quoted in a problem."""
        self.problems: list[Problem] = []
        self.resource_keys: list[str] = []
        """In the resources form: the ``llm:<role>`` key of each model entry, for locations."""

    def where(self, path: tuple[Any, ...]) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        loc = f"{self.source}:{line}" if line else self.source
        return f"{loc}: {_fmt(path)}" if path else loc

    def add(self, path: tuple[Any, ...], message: str) -> None:
        self.problems.append(Problem(self.where(path), message))

    def add_validation(self, base: tuple[Any, ...], exc: ValidationError) -> None:
        for err in exc.errors():
            loc = base + tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                self.add(loc, "unknown key")
            elif err["type"] == "missing":
                self.add(loc, "is required")
            else:
                message = str(err["msg"]).removeprefix("Value error, ")
                if err["loc"]:  # a whole-object rule (model validator) quotes nothing
                    message += f" (got {self.shown_input(loc, err.get('input'))})"
                self.add(loc, message)

    def shown_input(self, path: tuple[Any, ...], value: Any) -> str:
        """How a rejected input may be quoted: secrets and values from the environment are hidden,
        URLs lose their credentials and query."""
        if any(isinstance(p, str) and any(word in p.lower() for word in _SECRET_WORDS) for p in path):
            return "a value (hidden)"
        if isinstance(value, str) and any(v and v in value for v in self.env_values):
            return "a value from the environment (hidden)"
        if isinstance(value, str) and path and path[-1] == "base_url":
            return safe_url(value) if "://" in value else "a value that is not a URL"
        if isinstance(value, (Mapping, list, tuple)):  # may hold a key under any name
            return f"a {'mapping' if isinstance(value, Mapping) else 'list'}"
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    def scrubbed(self) -> list[Problem]:
        """The problems with every environment value (4+ characters) replaced by ``***`` wherever a
        message quotes it (a registry rule quoting a bad temperature that came from ``${VAR}``)."""
        values = sorted((v for v in self.env_values if len(v) >= 4), key=len, reverse=True)
        if not values:
            return list(self.problems)

        def mask(text: str) -> str:
            for value in values:
                text = text.replace(value, "***")
            return text

        return [Problem(mask(p.where), mask(p.message)) for p in self.problems]


_SECRET_WORDS = ("key", "secret", "token", "password", "auth", "headers")


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int], list[Problem]]:
    """The data of a config file and the line of every key path; ConfigError naming the file.

    Read with :mod:`tierflow._yaml`: safe types only, and a document whose aliases expand past
    its limit (an alias bomb: a few lines standing for billions of nodes) is refused.
    """
    problems: list[Problem] = []
    try:
        node = compose_yaml(text)
        data = load_yaml(text)
    except YAMLTooLargeError as exc:
        raise ConfigError([Problem(source, f"refused: {exc}")], source=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        what = exc.problem or "invalid YAML"
        if mark and "${" in text.splitlines()[min(mark.line, len(text.splitlines()) - 1)]:
            what += ' (inside a {...} mapping, quote environment references: "${VAR}")'
        raise ConfigError([Problem(f"{source}{line}", f"invalid YAML: {what}")], source=source) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(source, f"invalid YAML: {exc}")], source=source) from None
    except RecursionError:
        raise ConfigError([Problem(source, "invalid YAML: nested too deeply")], source=source) from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_index(node, lines, problems, source)
    return data, lines, problems


def _interpolate(value: Any, path: tuple[Any, ...], ctx: _Ctx, missing: list[str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, recording missing variables."""
    if isinstance(value, str):
        if "${" not in value:
            return value

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in ctx.env:
                ctx.env_values.add(ctx.env[name])
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
