"""Which code a flow file may run: nothing, unless the user allows its module (README, Security).

A flow file names Python functions as ``"module:function"`` (a code node's ``callable``, and a
pattern's ``classify`` / ``classifier`` / ``aggregate`` / ``check``). Importing a module runs its
code, so a flow received from someone else must not choose what runs. The rules:

- a function runs only if its module, or a package above it, is allowed: ``allow_code:`` in the
  project config, ``--allow-code MODULE`` on ``tierflow run``, ``allow_code=[...]`` in Python;
  ``*`` allows every module the flow names (for a flow you wrote or reviewed);
- the check comes first: a refused flow imports nothing, and every refusal says what to allow;
- the function must be defined in an allowed module: one an allowed module merely imports
  (``allowed:system`` after ``from os import system``), or reached through another module
  (``allowed:os.system``), is refused too;
- the flow's folder is never put on ``sys.path``; ``code_path`` (``--code-path DIR``) names folders
  to import from, added only while the flow's modules are imported and removed afterwards.

A flow file cannot allow code itself: the allow list belongs to whoever runs it.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierflow.errors import CodeNotAllowedError, FlowCompileError, GraphBuildError, Problem
from tierflow.ir import IRModule, IRNode

ALLOW_ALL = "*"
"""In an allow list: every module the flow names."""


@dataclass(frozen=True, slots=True)
class CodePolicy:
    """The modules a run allows, and the extra folders to import them from."""

    allow: tuple[str, ...] = ()
    code_path: tuple[Path, ...] = ()

    @classmethod
    def of(cls, allow: Iterable[str] = (), code_path: Iterable[str | Path] = ()) -> CodePolicy:
        return cls(tuple(dict.fromkeys(allow)), tuple(Path(p) for p in code_path))

    def allows(self, module: str) -> bool:
        """True when ``module`` or a package above it is allowed."""
        return any(a == ALLOW_ALL or module == a or module.startswith(a + ".") for a in self.allow)


def code_references(module: IRModule) -> Iterator[tuple[IRNode, str, str]]:
    """``(node, setting, "module:function")`` for every function the flow names and nothing binds yet."""
    from tierflow.patterns import CALLABLE_SETTINGS

    for node in module.nodes:
        if node.fn is not None:
            continue
        if node.kind == "code" and isinstance(node.config.get("callable"), str):
            yield node, "callable", node.config["callable"]
        elif node.kind == "pattern":
            for key in CALLABLE_SETTINGS:
                value = node.config.get(key)
                if isinstance(value, str) and ":" in value:
                    yield node, key, value


def refusals(module: IRModule, policy: CodePolicy, label: Callable[[IRNode], str]) -> list[Problem]:
    """A problem for every function whose module ``policy`` does not allow, saying what to add."""
    problems = []
    for node, key, spec in code_references(module):
        mod = spec.partition(":")[0]
        if not policy.allows(mod):
            problems.append(Problem(f"{label(node)}.config.{key}", _refusal(spec, mod)))
    return problems


def _refusal(spec: str, module: str) -> str:
    top = module.split(".")[0]
    return (f"{spec!r} would import and run module {module!r}, which this run does not allow. If you trust "
            f"it, allow it: `--allow-code {module}` on tierflow run, `allow_code: [{module}]` in the project "
            f"config, or allow_code=[{module!r}] in Python" + (f" (or its package {top!r})" if top != module else "")
            + " (README, Security)")


def bind_callables(module: IRModule, *, allow_code: Iterable[str] = (), code_path: Iterable[str | Path] = (),
                   source: str | None = None, label: Callable[[IRNode], str] | None = None) -> None:
    """Import every function the flow names into its node, if the user allows its module.

    Code nodes get :attr:`IRNode.fn`; pattern nodes get their pattern object with its functions.
    Nothing is imported when any module is refused (:class:`CodeNotAllowedError` lists them all);
    import failures are a :class:`FlowCompileError`. ``sys.path`` is the same afterwards.
    """
    policy = CodePolicy.of(allow_code, code_path)
    label = label or (lambda n: f"node {n.meta.get('flow_id', n.id)!r}")
    refused = refusals(module, policy, label)
    if refused:
        raise CodeNotAllowedError(refused, source=source)
    problems: list[Problem] = []
    with _import_path(policy.code_path):
        for node in module.nodes:
            if node.fn is not None:
                continue
            where = label(node)
            if node.kind == "code" and isinstance(node.config.get("callable"), str):
                fn = _import(node.config["callable"], policy, f"{where}.config.callable", problems)
                if fn is not None:
                    node.fn = fn
            elif node.kind == "pattern":
                node.fn = _bind_pattern(node, policy, where, problems)
    if problems:
        raise FlowCompileError(problems, source=source)


def _bind_pattern(node: IRNode, policy: CodePolicy, where: str, problems: list[Problem]) -> Any:
    from tierflow.patterns import pattern_from_config

    def resolve(spec: str, key: str) -> Any:
        fn = _import(spec, policy, f"{where}.config.{key}", problems)
        return fn if fn is not None else _failed

    try:
        return pattern_from_config(node.config, where=where, resolve=resolve)
    except GraphBuildError as exc:
        problems.extend(exc.problems)
        return None


def _failed(*_args: Any, **_kwargs: Any) -> Any:  # stands in for a function that failed to import
    raise RuntimeError("this function failed to import")


def _import(spec: str, policy: CodePolicy, where: str, problems: list[Problem]) -> Any:
    """The function ``spec`` names, walked attribute by attribute; None (with a problem) on failure."""
    mod_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as exc:
        problems.append(Problem(where, f"cannot import module {mod_name!r} of {spec!r}: {exc}"
                                       + _path_hint(mod_name, policy)))
        return None
    owner = mod_name
    for part in attr.split("."):
        if not hasattr(obj, part):
            problems.append(Problem(where, f"module {owner!r} has no attribute {part!r} (in {spec!r})"))
            return None
        obj = getattr(obj, part)
        if isinstance(obj, types.ModuleType):
            owner = obj.__name__
            if not policy.allows(owner):
                problems.append(Problem(where, f"{spec!r} reaches module {owner!r} through {mod_name!r}; "
                                               "name the function in its own module, and allow that module"))
                return None
    if not callable(obj):
        problems.append(Problem(where, f"{spec!r} is not callable (it is a {type(obj).__name__})"))
        return None
    defined_in = getattr(obj, "__module__", None)
    if not isinstance(defined_in, str) or not policy.allows(defined_in):
        problems.append(Problem(where, (
            f"{spec!r} is a function of module {defined_in!r}, imported by {mod_name!r}: allowing a module "
            "does not allow what it imports; name the function in an allowed module")))
        return None
    return obj


def _path_hint(module: str, policy: CodePolicy) -> str:
    if policy.code_path:
        return f" (looked in sys.path and {[str(p) for p in policy.code_path]})"
    return (" (the flow's folder is not on the import path: install the module, or pass --code-path DIR / "
            "code_path=[DIR] to import from a folder)")


@contextmanager
def _import_path(folders: Sequence[Path]) -> Iterator[None]:
    """``folders`` on ``sys.path`` while the flow's modules are imported; removed afterwards."""
    added = [str(p.resolve()) for p in folders]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


__all__ = ["ALLOW_ALL", "CodePolicy", "bind_callables", "code_references", "refusals"]
