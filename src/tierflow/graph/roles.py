"""The names a graph looks up, checked before anything runs: roles, routed roles and providers.

LLM nodes name a role (or a ``provider/model``) and fallbacks; pattern nodes name roles in their
settings (:meth:`tierflow.patterns.Pattern.role_refs`). Each name must be declared where it is
looked up: a role in the registry, and one that can serve a chat call (``text`` or
``structured_output``); a ``routed`` setting among the routed roles; a ``provider/model``'s
provider among the known providers. A near miss gets a "did you mean". Python graphs are checked
when the engine meets its client; flow files when they compile (README, Workflows).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from tierflow.errors import GraphBuildError, Problem, did_you_mean
from tierflow.ir import IRModule, IRNode
from tierflow.registry import Registry

RoleRef = tuple[str, str, str]
"""``(setting path, name, "chat" | "routed")``."""


@dataclass(frozen=True, slots=True)
class Names:
    """What a graph's names are checked against."""

    registry: Registry
    routed: Collection[str] = field(default_factory=frozenset)
    providers: Collection[str] | None = None
    """Known provider names; None leaves ``provider/model`` strings unchecked."""

    @property
    def roles(self) -> list[str]:
        return [*self.registry.roles, *(r for r in self.routed if r not in self.registry)]


PatternOf = Callable[[IRNode], Any]
"""How a caller that knows the patterns builds a pattern node's object from its config."""


def node_role_refs(node: IRNode, pattern_of: PatternOf | None = None) -> Iterator[RoleRef]:
    """Every role (or ``provider/model``) an LLM or pattern node names, with where it is named.

    A pattern node answers through its in-process object (``role_refs()``), else through
    ``pattern_of`` (the engine passes :func:`tierflow.patterns.pattern_of`); the graph package
    itself does not know the patterns.
    """
    if node.kind == "llm":
        if node.config.get("llm_role") is not None:
            yield "llm_role", str(node.config["llm_role"]), "chat"
        for i, name in enumerate(node.config.get("fallback") or []):
            yield f"fallback[{i}]", str(name), "chat"
    elif node.kind == "pattern":
        pattern = node.fn if hasattr(node.fn, "role_refs") else (pattern_of(node) if pattern_of else None)
        if pattern is not None:
            yield from pattern.role_refs()


def name_problem(name: str, kind: str, names: Names) -> str | None:
    """Why ``name`` cannot be called here, or None when it can."""
    if kind == "routed":
        if name in names.routed:
            return None
        return (f"{name!r} is not a routed role (routed roles: {sorted(names.routed)})"
                + _hint(name, names.routed) + "; declare it in the project config with `router:` and "
                "`candidates:`")
    if "/" in name:
        provider = name.partition("/")[0]
        if names.providers is None or provider in names.providers:
            return None
        return (f"{name!r} names provider {provider!r}, which is not declared (known providers: "
                f"{sorted(names.providers)})" + _hint(provider, names.providers))
    if name in names.routed:
        return None
    if name not in names.registry:
        return (f"role {name!r} is not declared (declared: {sorted(names.roles)})" + _hint(name, names.roles)
                + "; declare it under `models:` or name a 'provider/model'")
    if name in names.registry.splits:
        return None  # a split's variants were checked when its registry was parsed
    entry = names.registry.get(name, chat=False)
    if not entry.serves_chat:
        return (f"role {name!r} has modalities {list(entry.modalities)}: an LLM call needs a role with "
                f"'text' or 'structured_output' (chat roles: {names.registry.chat_roles})")
    return None


def _hint(name: str, known: Collection[str]) -> str:
    close = did_you_mean(name, known)
    return f"; did you mean {close!r}?" if close else ""


def role_problems(module: IRModule, names: Names, pattern_of: PatternOf | None = None) -> list[Problem]:
    """Every name an LLM or pattern node of ``module`` looks up that ``names`` cannot serve."""
    problems: list[Problem] = []
    for node in module.nodes:
        try:
            refs = list(node_role_refs(node, pattern_of))
        except GraphBuildError as exc:
            problems += exc.problems
            continue
        if node.kind == "llm" and node.config.get("llm_role") is None and not names.registry.primary.serves_chat:
            refs.append(("llm_role", names.registry.primary.role, "chat"))  # the implicit primary
        for where, name, kind in refs:
            why = name_problem(name, kind, names)
            if why is not None:
                problems.append(Problem(f"node {node.id!r} {where}", why))
    return problems


__all__ = ["Names", "PatternOf", "RoleRef", "name_problem", "node_role_refs", "role_problems"]
