"""Queries over the shape of an IR module, shared by build-time validation and the engine's plan.

Control flow: successors (branch targets included), reachability, cycles, topological order and
the branch arms a node sits on. Data flow: the references a node's inputs and branch conditions
read. Kept apart from :mod:`tierflow.graph.validation` so the scheduler can use them without the
problem checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tierflow.ir import START_ID, IRModule, IRNode, IRRef


def condition_refs(cond: Any) -> Iterator[IRRef]:
    """Every ``{"ref": [node, key]}`` inside a condition's JSON."""
    if isinstance(cond, dict):
        ref = cond.get("ref")
        if isinstance(ref, (list, tuple)) and len(ref) == 2:
            yield IRRef(str(ref[0]), str(ref[1]))
            return
        for v in cond.values():
            yield from condition_refs(v)
    elif isinstance(cond, list):
        for v in cond:
            yield from condition_refs(v)


def input_refs(value: Any) -> Iterator[IRRef]:
    """Every :class:`IRRef` inside an input value (containers included)."""
    if isinstance(value, IRRef):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from input_refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from input_refs(v)


def branch_targets(node: IRNode) -> list[str]:
    """The distinct targets a branch node can choose, in case order."""
    targets = [c.get("target") for c in node.config.get("cases", []) if isinstance(c, dict)]
    targets.append(node.config.get("otherwise"))
    return list(dict.fromkeys(t for t in targets if isinstance(t, str)))


def successors(module: IRModule) -> dict[str, list[tuple[str, bool]]]:
    """node id -> [(target, soft)], including the implicit edges of branch targets."""
    succ: dict[str, list[tuple[str, bool]]] = {n.id: [] for n in module.nodes}
    for e in module.edges:
        if e.source in succ and e.target not in {t for t, _ in succ[e.source]}:
            succ[e.source].append((e.target, e.soft))
    for n in module.nodes:
        if n.kind == "branch":
            succ[n.id] += _implicit_branch_edges(n, succ)
    return succ


def _implicit_branch_edges(branch: IRNode, succ: dict[str, list[tuple[str, bool]]]) -> list[tuple[str, bool]]:
    """The branch's edges to the targets its cases name that no explicit edge reaches (hard edges)."""
    present = {t for t, _ in succ[branch.id]}
    return [(t, False) for t in branch_targets(branch) if t in succ and t not in present]


def _reach(start: str, succ: dict[str, list[str]], skip: tuple[str, str] | None = None) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        cur = stack.pop()
        for nxt in succ.get(cur, ()):
            if (cur, nxt) != skip and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _find_cycle(plain: dict[str, list[str]]) -> list[str] | None:
    color: dict[str, int] = {}
    for root in plain:
        if color.get(root):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(plain[root]))]
        path = [root]
        color[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = 2
                stack.pop()
                path.pop()
            elif color.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not color.get(nxt) and nxt in plain:
                color[nxt] = 1
                stack.append((nxt, iter(plain[nxt])))
                path.append(nxt)
    return None


def _topological(plain: dict[str, list[str]]) -> list[str]:
    """The nodes of an acyclic ``plain`` graph, each after all of its predecessors (Kahn)."""
    indegree = dict.fromkeys(plain, 0)
    for targets in plain.values():
        for t in targets:
            indegree[t] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    order: list[str] = []
    while ready:
        n = ready.pop()
        order.append(n)
        for t in plain[n]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return order


def arms(module: IRModule, plain: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """node -> {branch id: arm target}: the branch arms every path from START to it goes through.

    One pass in topological order (``plain`` is acyclic here): a node's arms are those shared
    by every reachable predecessor, plus the arm the edge from a branch predecessor is.
    """
    reachable = _reach(START_ID, plain)
    arm_targets = {n.id: set(branch_targets(n)) for n in module.nodes if n.kind == "branch"}
    owned: dict[str, dict[str, str]] = {n: {} for n in plain}
    preds: dict[str, list[str]] = {n: [] for n in plain}
    for src, targets in plain.items():
        if src in reachable:
            for t in dict.fromkeys(targets):
                preds[t].append(src)
    for n in _topological(plain):
        if n == START_ID or n not in reachable:
            continue
        shared: dict[str, str] | None = None
        for p in preds[n]:
            through = dict(owned[p])
            if n in arm_targets.get(p, ()):
                through[p] = n
            shared = through if shared is None else {b: t for b, t in shared.items() if through.get(b) == t}
        owned[n] = shared or {}
    return owned


def _exclusive(a: dict[str, str], b: dict[str, str]) -> str | None:
    """The branch on which two arm maps disagree, if any."""
    for branch, target in a.items():
        if branch in b and b[branch] != target:
            return branch
    return None


def _ancestors(plain: dict[str, list[str]], reverse: dict[str, list[str]]) -> dict[str, int]:
    """node -> bit set (by position in ``plain``) of the nodes that run before it; ``plain`` is acyclic."""
    index = {n: i for i, n in enumerate(plain)}
    bits: dict[str, int] = {}
    for n in _topological(plain):
        acc = 1 << index[n]  # a node counts as its own ancestor
        for p in reverse.get(n, ()):
            acc |= bits.get(p, 0)
        bits[n] = acc
    return bits


__all__ = [
    "arms",
    "branch_targets",
    "condition_refs",
    "input_refs",
    "successors",
]
