"""Compile-time checks of every name a flow file looks up: roles, routed roles, providers, patterns.

Each problem names the JSON path in the flow file (``node 'classify' (nodes[2]).config.llm_role``,
``config.core_identity.models[1].ref``) and suggests the nearest declared name. An LLM node naming
an undeclared role gets the documented ``llm_role validation failed`` text. Roles must serve chat
(``text`` or ``structured_output``). Providers and routed roles belong to the project config, so
they are checked when one is given (``tierflow compile`` and ``tierflow run`` always give one);
pattern settings are checked by building the pattern, with its named functions as placeholders
(nothing is imported at compile time: see :mod:`tierflow.flowfile.trust`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tierflow.errors import GraphBuildError, Problem, did_you_mean
from tierflow.flowfile.diagnostics import role_problem
from tierflow.flowfile.format import FlowFile, LLMNode, PatternNode
from tierflow.graph.roles import Names, name_problem
from tierflow.ir import IRModule
from tierflow.registry import ModelEntry

if TYPE_CHECKING:
    from tierflow.config import ProjectConfig

REGISTRY_WHERE = "config.core_identity.models"


def reference_problems(flow: FlowFile, module: IRModule, label: Callable[[str], str],
                       project: ProjectConfig | None = None) -> list[Problem]:
    """Every name of ``flow`` (lowered to ``module``) that is not declared where it is looked up."""
    providers: set[str] | None = None
    routed: set[str] = set()
    if project is not None:
        from tierflow.config import WELL_KNOWN_PROVIDERS

        providers = {*project.providers, *WELL_KNOWN_PROVIDERS}
        own = {*(m.role for m in module.models), *(s.role for s in module.splits)}
        routed = {r for r in project.routed_roles if r not in own}
    problems = _provider_problems(module.models, providers, project)
    declared = [m["role"] for m in flow.config.core_identity.models if isinstance(m.get("role"), str)]
    names = Names(module.registry, routed, providers) if module.models else None
    configs = {n.id: n.config for n in module.nodes}
    for n in flow.nodes:
        where = label(n.id)
        if isinstance(n, LLMNode):
            problems += _llm_problems(n, configs[n.id], where, declared, names, routed)
        elif isinstance(n, PatternNode):
            problems += _pattern_problems(n, where, names, project is not None)
    return problems


def _provider_problems(models: list[ModelEntry], providers: set[str] | None,
                       project: ProjectConfig | None) -> list[Problem]:
    if providers is None or project is None:
        return []
    problems = []
    for i, entry in enumerate(models):
        for j, target in enumerate(entry.chain):
            if target.ref in providers:
                continue
            path = f"{REGISTRY_WHERE}[{i}] (role {entry.role!r})" + (".ref" if j == 0 else f".fallback[{j - 1}].ref")
            problems.append(Problem(path, _provider_message(target.ref, project)))
    return problems


def _provider_message(ref: str, project: ProjectConfig) -> str:
    from tierflow.config import WELL_KNOWN_PROVIDERS

    close = did_you_mean(ref, [*project.providers, *WELL_KNOWN_PROVIDERS])
    return (f"provider {ref!r} is not declared in the project config {project.source} (declared: "
            f"{sorted(project.providers)}; well-known: {sorted(WELL_KNOWN_PROVIDERS)})"
            + (f"; did you mean {close!r}?" if close else ".")
            + " Declare it under `providers:` in the project config (--config), or name a declared one.")


def _llm_problems(n: LLMNode, config: dict[str, Any], where: str, declared: list[str],
                  names: Names | None, routed: set[str]) -> list[Problem]:
    problems = []
    c = n.config
    field = "llm_role" if c.llm_role or not c.model else "model"
    role = config.get("llm_role")
    if isinstance(role, str) and role not in declared and role not in routed:
        close = did_you_mean(role, [*declared, *routed])
        problems.append(Problem(f"{where}.config.{field}", role_problem(n.id, role, declared, field=field)
                                + (f"\n  did you mean {close!r}?" if close else "")))
    elif isinstance(role, str) and names is not None:
        why = name_problem(role, "chat", names)
        if why is not None:
            problems.append(Problem(f"{where}.config.{field}", f"LLM node: {why}"))
    for i, fb in enumerate(c.fallback or []):
        if names is not None:
            why = name_problem(fb, "chat", names)
        elif "/" in fb or fb in declared:
            why = None
        else:
            why = f"{fb!r} is neither a declared role {sorted(declared)} nor a 'provider/model' string"
        if why is not None:
            problems.append(Problem(f"{where}.config.fallback[{i}]", why))
    return problems


def _pattern_problems(n: PatternNode, where: str, names: Names | None, know_routed: bool) -> list[Problem]:
    from tierflow.patterns import pattern_for_checks

    raw = n.config.model_dump(mode="json", exclude_unset=True)
    try:  # the functions it names stand in as placeholders: compiling imports nothing
        pattern = pattern_for_checks(raw, where=f"{where}.config")
    except GraphBuildError as exc:
        return list(exc.problems)
    if names is None:
        return []
    problems = []
    for setting, name, kind in pattern.role_refs():
        if kind == "routed" and not know_routed:
            continue  # routed roles are the project config's: checked when one is given
        why = name_problem(name, kind, names)
        if why is not None:
            problems.append(Problem(f"{where}.config.{_file_setting(raw, setting)}", why))
    return problems


def _file_setting(raw: dict[str, Any], setting: str) -> str:
    """A verifier written with ``ladder: [...]`` names its roles ``ladder[i]`` in the file."""
    if "ladder" not in raw:
        return setting
    if setting == "generate":
        return "ladder[0]"
    if setting.startswith("escalate["):
        return f"ladder[{int(setting[9:-1]) + 1}]"
    return setting


__all__ = ["REGISTRY_WHERE", "reference_problems"]
