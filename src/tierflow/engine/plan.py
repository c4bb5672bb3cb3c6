"""The execution plan: an IR module compiled once into flat lists indexed by node.

Everything a run needs that does not depend on the inputs is computed here: node indices,
successor lists with edge kinds, in-degrees, input resolvers, executors, compiled branch
conditions and output mappings. A run then only copies two small lists and walks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tierflow.engine.conditions import compile_condition
from tierflow.engine.executors import (
    code_executor,
    join_executor,
    llm_executor,
    pattern_executor,
    prompt_executor,
)
from tierflow.errors import GraphBuildError, MissingOutputError, Problem
from tierflow.graph.structure import branch_targets, successors
from tierflow.ir import END_ID, PARENT_ID, START_ID, IRModule, IRNode, IRRef

# How the scheduler treats a node.
ENTRY, EXIT, SYNC, ASYNC, BRANCH = range(5)

Resolver = Callable[[list[Any]], dict[str, Any]]


@dataclass(slots=True)
class ExecutionPlan:
    """Flat, index-based description of a graph, shared by every run of an engine."""

    ids: list[str]
    kinds: list[str]
    modes: list[int]
    executors: list[Any]
    resolvers: list[Resolver | None]
    succ: list[list[tuple[int, bool]]]
    indegree: list[int]
    has_soft: list[bool]
    branch_cases: list[list[tuple[Callable[[list[Any]], bool], int]] | None]
    branch_default: list[int | None]  # a branch's ``otherwise`` target (None: no otherwise)
    case_targets: list[frozenset[int]]
    output_maps: list[tuple[bool, tuple[tuple[str, str], ...]] | None]
    fallbacks: list[Callable[[BaseException], Any] | None]
    start: int
    end: int
    required_inputs: frozenset[str]
    reducers: dict[str, Any] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)


def _ref_reader(ref: IRRef, index: Mapping[str, int], start: int, consumer: str) -> Callable[[list[Any]], Any]:
    src = start if ref.node == PARENT_ID else index[ref.node]
    key = ref.key

    def read(values: list[Any]) -> Any:
        out = values[src]
        if out is None:
            return None
        try:
            return out[key]
        except KeyError:
            raise MissingOutputError(_missing(consumer, ref, out)) from None
    read._tf_reader = True  # type: ignore[attr-defined]
    return read


def _missing(consumer: str, ref: IRRef, out: Mapping[str, Any]) -> str:
    if ref.node == PARENT_ID:
        return f"node {consumer!r} reads run input {ref.key!r}, which was not given"
    return (f"node {consumer!r} reads {ref.node}[{ref.key!r}], but node {ref.node!r} returned only "
            f"{sorted(out)}")


def _nested_value(value: Any, index: Mapping[str, int], start: int, consumer: str) -> Any:
    """A literal, or a reader when the value contains references somewhere inside."""
    if isinstance(value, IRRef):
        return _ref_reader(value, index, start, consumer)
    if isinstance(value, dict):
        items = {k: _nested_value(v, index, start, consumer) for k, v in value.items()}
        if any(getattr(v, "_tf_reader", False) for v in items.values()):
            def read_dict(values: list[Any]) -> Any:
                return {k: (v(values) if getattr(v, "_tf_reader", False) else v) for k, v in items.items()}
            read_dict._tf_reader = True  # type: ignore[attr-defined]
            return read_dict
        return value
    if isinstance(value, list):
        items_l = [_nested_value(v, index, start, consumer) for v in value]
        if any(getattr(v, "_tf_reader", False) for v in items_l):
            def read_list(values: list[Any]) -> Any:
                return [(v(values) if getattr(v, "_tf_reader", False) else v) for v in items_l]
            read_list._tf_reader = True  # type: ignore[attr-defined]
            return read_list
    return value


def _resolver(node: IRNode, index: Mapping[str, int], start: int) -> Resolver:
    """A function building the node's keyword inputs from the run's values."""
    refs: list[tuple[str, int, IRRef]] = []
    literals: dict[str, Any] = {}
    nested: list[tuple[str, Callable[[list[Any]], Any]]] = []
    for name, value in node.inputs.items():
        if isinstance(value, IRRef):
            refs.append((name, start if value.node == PARENT_ID else index[value.node], value))
        else:
            v = _nested_value(value, index, start, node.id)
            if getattr(v, "_tf_reader", False):
                nested.append((name, v))
            else:
                literals[name] = v
    node_id = node.id
    if not literals and not nested:
        fast = [(name, src, ref.key, ref) for name, src, ref in refs]

        def resolve(values: list[Any]) -> dict[str, Any]:
            kw: dict[str, Any] = {}
            for name, src, key, ref in fast:
                out = values[src]
                if out is None:
                    kw[name] = None
                else:
                    try:
                        kw[name] = out[key]
                    except KeyError:
                        raise MissingOutputError(_missing(node_id, ref, out)) from None
            return kw
        return resolve
    readers = [(name, _ref_reader(ref, index, start, node_id)) for name, _src, ref in refs] + nested

    def resolve_slow(values: list[Any]) -> dict[str, Any]:
        kw = dict(literals)
        for name, read in readers:
            kw[name] = read(values)
        return kw
    return resolve_slow


def _executor(node: IRNode) -> tuple[int, Any]:
    kind = node.kind
    if kind == "entry":
        return ENTRY, None
    if kind == "exit":
        return EXIT, None
    if kind == "prompt":
        return SYNC, prompt_executor(node)
    if kind == "join":
        return SYNC, join_executor(node)
    if kind == "code":
        fn, is_async = code_executor(node)
        return (ASYNC if is_async else SYNC), fn
    if kind == "llm":
        return ASYNC, llm_executor(node)
    if kind == "pattern":
        return ASYNC, pattern_executor(node)
    if kind == "branch":
        return BRANCH, None
    raise GraphBuildError([Problem(f"node {node.id!r}", f"the engine cannot run kind {kind!r}")])


def compile_plan(module: IRModule) -> ExecutionPlan:
    """Compile a validated IR module into a :class:`ExecutionPlan`."""
    nodes = module.nodes
    ids = [n.id for n in nodes]
    index = {nid: i for i, nid in enumerate(ids)}
    start, end = index[START_ID], index[END_ID]
    succ, indegree, has_soft = _edges(module, ids, index)
    n = len(ids)
    modes, executors = [ENTRY] * n, [None] * n
    resolvers: list[Resolver | None] = [None] * n
    branch_cases: list[Any] = [None] * n
    branch_default: list[int | None] = [None] * n
    case_targets: list[frozenset[int]] = [frozenset()] * n
    for i, node in enumerate(nodes):
        modes[i], executors[i] = _executor(node)
        if modes[i] in (SYNC, ASYNC):
            resolvers[i] = _resolver(node, index, start)
        elif modes[i] == BRANCH:
            branch_cases[i], branch_default[i], case_targets[i] = _branch(node, index, start)
    return ExecutionPlan(ids=ids, kinds=[nd.kind for nd in nodes], modes=modes, executors=executors,
                         resolvers=resolvers, succ=succ, indegree=indegree, has_soft=has_soft,
                         branch_cases=branch_cases, branch_default=branch_default, case_targets=case_targets,
                         output_maps=[_output_map(nd) for nd in nodes], fallbacks=[nd.fallback_fn for nd in nodes],
                         start=start, end=end, required_inputs=_required_inputs(module),
                         reducers=dict(module.meta.get("reducers") or {}), index=index)


def _required_inputs(module: IRModule) -> frozenset[str]:
    """The run inputs some node reads (``PARENT["x"]``)."""
    return frozenset(r.key for node in module.nodes for r in _refs(node) if r.node == PARENT_ID)


def _edges(module: IRModule, ids: list[str], index: Mapping[str, int]
           ) -> tuple[list[list[tuple[int, bool]]], list[int], list[bool]]:
    """Each node's successors ``(index, soft)``, its in-degree and whether any edge into it is soft."""
    succ_map = successors(module)
    succ = [[(index[t], soft) for t, soft in succ_map[nid]] for nid in ids]
    indegree = [0] * len(ids)
    has_soft = [False] * len(ids)
    for targets in succ:
        for t, soft in targets:
            indegree[t] += 1
            has_soft[t] = has_soft[t] or soft
    return succ, indegree, has_soft


def _branch(node: IRNode, index: Mapping[str, int], start: int
            ) -> tuple[list[tuple[Callable[[list[Any]], bool], int]], int | None, frozenset[int]]:
    """A branch's compiled cases ``(predicate, target)``, its ``otherwise`` target and every target it names."""
    cases = [(compile_condition(c["when"], {**index, PARENT_ID: start}), index[c["target"]])
             for c in node.config.get("cases", [])]
    other = node.config.get("otherwise")
    default = index[other] if other is not None else None
    return cases, default, frozenset(index[t] for t in branch_targets(node))


def _output_map(node: IRNode) -> tuple[bool, tuple[tuple[str, str], ...]] | None:
    """``(forward every output?, (key, run output name) pairs)`` of a node that writes run outputs."""
    if not node.outputs:
        return None
    return "*" in node.outputs, tuple((k, v) for k, v in node.outputs.items() if k != "*")


def _refs(node: IRNode) -> list[IRRef]:
    from tierflow.graph.structure import condition_refs, input_refs

    refs = [r for v in node.inputs.values() for r in input_refs(v)]
    for case in node.config.get("cases", []) if node.kind == "branch" else []:
        refs += list(condition_refs(case.get("when")))
    return refs


__all__ = ["ASYNC", "BRANCH", "ENTRY", "EXIT", "SYNC", "ExecutionPlan", "MissingOutputError", "compile_plan"]
