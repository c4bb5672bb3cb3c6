"""Lowering a Python-API graph to the IR (:class:`tierflow.ir.IRModule`).

Everything the engine and the validator need is in the IR; in-process callables travel in
``IRNode.fn`` / ``IRNode.fallback_fn`` next to their serialisable description in ``config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tierflow.graph.refs import OutputRef
from tierflow.ir import END_ID, START_ID, IREdge, IRModule, IRNode, NodePattern

if TYPE_CHECKING:
    from tierflow.graph.base import Node
    from tierflow.graph.nodes import GraphNode


def lower_value(value: Any) -> Any:
    """Inputs: output references become :class:`IRRef`; containers are lowered recursively."""
    if isinstance(value, OutputRef):
        return value.to_ir()
    if isinstance(value, Mapping):
        return {k: lower_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_value(v) for v in value]
    return value


def lower_node(node: Node) -> IRNode:
    """One API node -> one IR node (kind, config, inputs, outputs, in-process callables)."""
    from tierflow.graph.nodes import CodeNode

    inputs = {k: lower_value(v) for k, v in node.inputs.items()}
    ir = IRNode(id=node.name, kind=node.kind, config=node.ir_config(), inputs=inputs,  # type: ignore[arg-type]
                outputs=dict(node.outputs), label=node.label)
    if isinstance(node, CodeNode):
        ir.fn = node.fn
    elif node.kind == "pattern" and isinstance(node, NodePattern):
        ir.fn = node  # the pattern object itself: the engine calls ``node.execute``
    if node.on_error is not None:
        handler = node.on_error
        ir.fallback_fn = handler if callable(handler) else (lambda _exc, _d=dict(handler): dict(_d))
        ir.config["on_error"] = "callable" if callable(handler) else dict(handler)
    if node.produces is not None and node.kind in ("code", "pattern"):
        ir.meta["produces"] = list(node.produces)
    return ir


def lower(graph: GraphNode) -> IRModule:
    """The whole graph -> IRModule (START/END become ``entry``/``exit`` nodes)."""
    nodes = [IRNode(id=START_ID, kind="entry")]
    nodes += [lower_node(n) for n in graph.nodes.values()]
    nodes.append(IRNode(id=END_ID, kind="exit"))
    seen: set[tuple[str, str]] = set()
    edges: list[IREdge] = []
    for source, target, soft in graph.edges:
        if (source, target) in seen:
            continue
        seen.add((source, target))
        edges.append(IREdge(source, target, soft))
    meta: dict[str, Any] = {"front_end": "python"}
    if graph.description:
        meta["description"] = graph.description
    if graph.reducers:
        meta["reducers"] = dict(graph.reducers)
    return IRModule(name=graph.name, models=[], nodes=nodes, edges=edges, meta=meta)


__all__ = ["lower", "lower_node", "lower_value"]
