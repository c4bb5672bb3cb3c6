"""Build-time validation of an IR module: every problem at once, each with where and how to fix.

It runs on the IR, so a Python-API graph and a flow file get the same diagnostics. Checks:
unknown edge / branch targets, references to missing nodes or outputs (inputs and branch
conditions), reads from nodes that may not have run yet, unreachable nodes, nodes with no path
to END, cycles, hard joins of exclusive branch arms (which could never run: use ``~``), two
writers of one run output without a reducer, prompt placeholders without an input.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from tierflow.errors import GraphBuildError, Problem
from tierflow.graph.structure import (
    _ancestors,
    _exclusive,
    _find_cycle,
    _reach,
    arms,
    branch_targets,
    condition_refs,
    input_refs,
    successors,
)
from tierflow.ir import END_ID, NODE_KINDS, PARENT_ID, START_ID, IRModule, IRNode

REDUCERS = ("append", "extend", "sum", "min", "max", "first", "last")
LLM_OUTPUTS = ("content", "model_used", "usage", "cost_usd", "call")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def produced_keys(node: IRNode) -> set[str] | None:
    """The output keys a node is known to produce, or None when only the run tells."""
    if node.kind == "prompt":
        return {"messages"}
    if node.kind == "llm":
        return set(LLM_OUTPUTS)
    if node.kind == "branch":
        return {"target"}
    if node.kind == "join":
        return set(node.inputs)
    declared = node.meta.get("produces", node.config.get("returns"))
    return set(declared) if declared is not None else None


def _suggest(name: str, known: list[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else f"; known nodes: {sorted(known)}"


def validate(module: IRModule) -> list[Problem]:
    """Every structural problem of ``module`` (empty list: the graph is well formed)."""
    problems: list[Problem] = []
    add = problems.append
    by_id: dict[str, IRNode] = {}
    for n in module.nodes:
        if n.id in by_id:
            add(Problem(f"node {n.id!r}", "two nodes have this id; ids must be unique"))
        by_id[n.id] = n
        if n.kind not in NODE_KINDS:
            add(Problem(f"node {n.id!r}", f"unknown kind {n.kind!r}; expected one of {list(NODE_KINDS)}"))
    known = [i for i in by_id if i not in (START_ID, END_ID)]
    for e in module.edges:
        for end, label in ((e.source, "source"), (e.target, "target")):
            if end not in by_id:
                add(Problem(f"edge {e.source} >> {e.target}",
                            f"{label} {end!r} is not a node of the graph{_suggest(end, known)}"))
        if e.target == START_ID:
            add(Problem(f"edge {e.source} >> START", "nothing can flow into START"))
        if e.source == END_ID:
            add(Problem(f"edge END >> {e.target}", "nothing can flow out of END"))
    edges_from: dict[str, list[str]] = {}
    for e in module.edges:
        edges_from.setdefault(e.source, []).append(e.target)
    for n in module.nodes:
        if n.kind == "branch":
            problems += _branch_problems(n, by_id, known, edges_from.get(n.id, []))
    succ = successors(module)
    plain = {k: [t for t, _ in v if t in by_id] for k, v in succ.items()}
    preds: dict[str, list[tuple[str, bool]]] = {k: [] for k in by_id}
    for src, targets in succ.items():
        for t, soft in targets:
            if t in preds:
                preds[t].append((src, soft))
    cycle = _find_cycle(plain)
    if cycle:
        add(Problem("cycle " + " -> ".join(cycle), "graphs are acyclic; remove an edge of the "
                    "cycle (for bounded retries use tierflow.patterns.Verifier)"))
    reachable = _reach(START_ID, plain)
    if START_ID not in by_id or not plain.get(START_ID):
        add(Problem("START", "no edge leaves START; add `START >> first_node`"))
    if END_ID not in reachable:
        add(Problem("END", "no path from START reaches END; add `last_node >> END`"))
    reverse: dict[str, list[str]] = {k: [s for s, _ in v] for k, v in preds.items()}
    reaches_end = _reach(END_ID, reverse) if END_ID in by_id else set()
    for n in module.nodes:
        if n.id in (START_ID, END_ID):
            continue
        if n.id not in reachable:
            add(Problem(f"node {n.id!r}", "is unreachable from START; connect it (e.g. "
                        f"`previous >> {n.id}`) or remove it"))
        elif n.id not in reaches_end:
            add(Problem(f"node {n.id!r}", f"has no path to END; add `{n.id} >> END` or connect it "
                        "to a later node"))
    if cycle is None:
        problems += _data_problems(module, by_id, known, reverse, plain)
        arm_map = arms(module, plain)
        problems += _join_problems(module, preds, arm_map)
        problems += _writer_problems(module, arm_map)
    return problems


def _branch_problems(n: IRNode, by_id: dict[str, IRNode], known: list[str],
                     edge_targets: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    chosen = set(branch_targets(n))
    wired = [t for t in edge_targets if t in by_id]
    # An unknown target most likely means one of the branch's own unselected successors.
    candidates = [t for t in wired if t not in chosen] or [k for k in known if k != n.id]
    cases = n.config.get("cases", [])
    if not cases and not n.config.get("otherwise"):
        problems.append(Problem(f"branch {n.id!r}", "has no cases; add .if_(condition, target)"))
    for i, case in enumerate(cases):
        target = case.get("target") if isinstance(case, dict) else None
        if target not in by_id:
            problems.append(Problem(f"branch {n.id!r} case {i}", f"targets unknown node {target!r}"
                                    f"{_suggest(str(target), candidates, 0.4)}"))
        constant = constant_condition(case.get("when") if isinstance(case, dict) else None)
        if constant is not None:
            problems.append(Problem(f"branch {n.id!r} case {i}", constant))
    other = n.config.get("otherwise")
    if other is not None and other not in by_id:
        problems.append(Problem(f"branch {n.id!r} otherwise", f"targets unknown node {other!r}"
                                f"{_suggest(str(other), candidates, 0.4)}"))
    for target in wired:
        if target not in chosen:
            problems.append(Problem(f"edge {n.id} >> {target}", f"branch {n.id!r} never selects "
                                    f"{target!r}; add .if_(condition, {target!r}) or "
                                    f".otherwise({target!r}), or remove the edge"))
    return problems


SPLIT_HINT = ("for an A/B test or a canary, send a share of the traffic to another model with a split "
              "role (see README, Traffic splits: {role: ab, split: [{role: current, weight: 0.9}, "
              "{role: candidate, weight: 0.1}]}) instead of a branch")


def constant_condition(cond: Any) -> str | None:
    """Why a branch condition is decided at build time (a constant, or reads no node output), or None.

    A Python bool such as ``random.random() < 0.1`` is evaluated once, when the graph is built,
    so every run would take the same arm: conditions must read node outputs or run inputs.
    """
    if _has_const(cond):
        return ("the condition is a constant, decided once when the graph was built (a Python bool "
                "such as `random.random() < 0.1` is evaluated there, not per run), so every run takes "
                "the same arm; test node outputs instead (e.g. node['content'].contains('X')), or, "
                + SPLIT_HINT)
    if isinstance(cond, dict) and not any(True for _ in condition_refs(cond)):
        return ("the condition reads no node output or run input, so every run takes the same arm; "
                "test node outputs instead (e.g. classify.content == 'yes'), or, " + SPLIT_HINT)
    return None


def _has_const(cond: Any) -> bool:
    if isinstance(cond, dict):
        return cond.get("op") == "const" or any(_has_const(v) for k, v in cond.items() if k in ("arg", "args"))
    if isinstance(cond, list):
        return any(_has_const(v) for v in cond)
    return False


def _data_problems(module: IRModule, by_id: dict[str, IRNode], known: list[str],
                   reverse: dict[str, list[str]], plain: dict[str, list[str]]) -> list[Problem]:
    problems: list[Problem] = []
    index = {n: i for i, n in enumerate(plain)}
    ancestor_bits = _ancestors(plain, reverse)
    for n in module.nodes:
        refs = [(f"input {name!r}", r) for name, v in n.inputs.items() for r in input_refs(v)]
        if n.kind == "branch":
            for i, case in enumerate(n.config.get("cases", [])):
                refs += [(f"case {i} condition", r) for r in condition_refs(case.get("when"))]
        ancestors = ancestor_bits.get(n.id, 0)
        for where, ref in refs:
            if ref.node == PARENT_ID:
                continue
            label = f"node {n.id!r} {where}"
            if ref.node not in by_id:
                problems.append(Problem(label, f"reads {ref.node}[{ref.key!r}] but there is no node "
                                        f"{ref.node!r}{_suggest(ref.node, known)}"))
                continue
            keys = produced_keys(by_id[ref.node])
            if keys is not None and ref.key not in keys:
                problems.append(Problem(label, f"reads {ref.node}[{ref.key!r}] but node {ref.node!r}"
                                        f" produces only {sorted(keys)}"))
            if not (ancestors >> index[ref.node]) & 1:
                problems.append(Problem(label, f"reads {ref.node}[{ref.key!r}] but {ref.node!r} does "
                                        f"not run before {n.id!r}; add an edge path "
                                        f"`{ref.node} >> ... >> {n.id}`"))
        if n.kind == "prompt":
            problems += _prompt_problems(n)
        if n.kind == "llm" and "messages" not in n.inputs:
            problems.append(Problem(f"node {n.id!r}", "an LLM node needs a 'messages' input (e.g. "
                                    "inputs={'messages': prompt['messages']})"))
    return problems


def _prompt_problems(n: IRNode) -> list[Problem]:
    texts = [n.config.get("system"), n.config.get("user")]
    texts += [m.get("content") for m in n.config.get("messages", []) if isinstance(m, dict)]
    names = {m for t in texts if isinstance(t, str) for m in _PLACEHOLDER.findall(t)}
    return [Problem(f"node {n.id!r}", f"the prompt uses {{{name}}} but no input is named "
                    f"{name!r}; add inputs={{{name!r}: ...}}") for name in sorted(names - set(n.inputs))]


def _join_problems(module: IRModule, preds: dict[str, list[tuple[str, bool]]],
                   arm_map: dict[str, dict[str, str]]) -> list[Problem]:
    problems: list[Problem] = []
    for n in module.nodes:
        if n.id == END_ID:  # the run ends when every node has resolved; END never waits
            continue
        hard = [p for p, soft in preds.get(n.id, []) if not soft]
        for i, a in enumerate(hard):
            for b in hard[i + 1:]:
                branch = _exclusive(arm_map.get(a, {}), arm_map.get(b, {}))
                if branch is not None:
                    problems.append(Problem(
                        f"node {n.id!r}", f"is a hard join of {a!r} and {b!r}, which are on different "
                        f"arms of branch {branch!r}, so it would wait forever; make it a soft join: "
                        f"`[{a}, {b}] >> ~{n.id}`"))
    return problems


def _writer_problems(module: IRModule, arm_map: dict[str, dict[str, str]]) -> list[Problem]:
    reducers = module.meta.get("reducers", {}) or {}
    problems = [Problem(f"reducer {name!r}", f"unknown reducer {r!r}; expected one of "
                        f"{list(REDUCERS)} or a function (old, new) -> merged")
                for name, r in reducers.items() if not callable(r) and r not in REDUCERS]
    writes: list[tuple[str, set[str] | None]] = []  # None: every key (unknown "*" forward)
    for n in module.nodes:
        names: set[str] | None = set()
        for key, dest in n.outputs.items():
            if key == "*":
                keys = produced_keys(n)
                names = None if keys is None or names is None else names | keys
            elif names is not None:
                names.add(dest)
        if names is None or names:
            writes.append((n.id, names))
    for i, (a, a_names) in enumerate(writes):
        for b, b_names in writes[i + 1:]:
            common = {c for c in _shared_names(a_names, b_names) if c not in reducers}
            if not common or _exclusive(arm_map.get(a, {}), arm_map.get(b, {})):
                continue
            what = "every output" if common == {"*"} else f"run output(s) {sorted(common)}"
            problems.append(Problem(f"nodes {a!r} and {b!r}", f"both write {what}; declare a "
                                    f"reducer (GraphNode(..., reducers={{name: 'append'}})) or "
                                    "write different names"))
    return problems


def check(module: IRModule, *, extra: list[Problem] | None = None,
          source: str | None = None) -> IRModule:
    """Raise :class:`GraphBuildError` listing every problem (plus ``extra``); else return ``module``."""
    problems = list(extra or []) + validate(module)
    if problems:
        raise GraphBuildError(problems, source=source or f"graph {module.name!r}")
    return module



def _shared_names(a: set[str] | None, b: set[str] | None) -> set[str]:
    """Run outputs two writers share; None is "every output" (``{"*"}`` when both write all)."""
    if a is None:
        return {"*"} if b is None else set(b)
    if b is None:
        return set(a)
    return a & b


__all__ = [
    "LLM_OUTPUTS",
    "REDUCERS",
    "SPLIT_HINT",
    "check",
    "constant_condition",
    "produced_keys",
    "validate",
]
