"""The base of the graph API: :class:`Node`, the START / END markers and the ``>>`` / ``~`` wiring.

Every node kind subclasses :class:`Node`; the operators here add edges to the graph of the
``with GraphNode(...)`` block that is open (or the graph of the node on the other side). It sits
below :mod:`tierflow.graph.nodes` so that the node kinds and :class:`GraphNode` can build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from tierflow.graph.refs import PARENT, OutputRef
from tierflow.ir import END_ID, START_ID

if TYPE_CHECKING:
    from tierflow.graph.nodes import GraphNode

_current_graph: ContextVar[GraphNode | None] = ContextVar("tierflow_current_graph", default=None)

ErrorHandler = Callable[[BaseException], Any] | Mapping[str, Any]
"""A node's ``on_error``: a function of the error returning the outputs, or fixed outputs."""


class Node:
    """Base of every graph node: a unique ``name``, ``inputs`` and an ``outputs`` mapping."""

    kind: str = "node"
    produces: tuple[str, ...] | None = None
    """The output keys this node is known to produce (None: only known at run time)."""

    def __init__(self, name: str, *, inputs: Mapping[str, Any] | None = None,
                 outputs: Mapping[str, Any] | None = None, on_error: ErrorHandler | None = None,
                 label: str | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a node needs a non-empty string name, got {name!r}")
        self.name = name
        self.inputs: dict[str, Any] = dict(inputs or {})
        self.outputs: dict[str, str] = _output_map(name, outputs)
        self.on_error = on_error
        self.label = label
        self.graph: GraphNode | None = _current_graph.get()
        if self.graph is not None:
            self.graph._add_node(self)

    def __getitem__(self, key: str) -> OutputRef:
        return OutputRef(self, key)

    def __rshift__(self, other: Any) -> Any:
        _connect([self], other)
        return _chain_value(other)

    def __rrshift__(self, other: Any) -> Any:
        _connect(_as_sources(other), self)
        return self

    def __invert__(self) -> Soft:
        return Soft(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def ir_config(self) -> dict[str, Any]:
        """The node's IR ``config`` (overridden per kind)."""
        return {}


class Soft:
    """``~node``: edges into it are soft (the node is a soft join)."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def __rrshift__(self, other: Any) -> Node:
        _connect(_as_sources(other), self)
        return self.node

    def __rshift__(self, other: Any) -> Any:
        raise TypeError(f"~{self.node.name} can only be the target of an edge "
                        f"(write `... >> ~{self.node.name}`, then `{self.node.name} >> next`)")


class _Marker(Node):
    """START / END: shared markers whose edges belong to the graph of the node on the other side."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind
        self.inputs, self.outputs, self.on_error, self.label, self.graph = {}, {}, None, None, None

    def __repr__(self) -> str:
        return "START" if self.name == START_ID else "END"


START = _Marker(START_ID, "entry")
END = _Marker(END_ID, "exit")


# --- helpers --------------------------------------------------------------------------------


def _output_map(name: str, outputs: Mapping[str, Any] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, dest in (outputs or {}).items():
        if dest is PARENT:
            result[key] = "*" if key == "*" else key
        elif isinstance(dest, OutputRef) and dest.node is PARENT:
            result[key] = dest.key
        elif isinstance(dest, str):
            result[key] = dest
        else:
            raise TypeError(f"node {name!r}: outputs[{key!r}] must be PARENT, PARENT['name'] or a "
                            f"run-output name; got {dest!r}")
    return result


def _as_sources(value: Any) -> list[Node]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, Node):
            raise TypeError(f"{item!r} cannot start an edge: expected a node or a list of nodes")
    return items


def _chain_value(other: Any) -> Any:
    if isinstance(other, Soft):
        return other.node
    if isinstance(other, (list, tuple)):
        return [o.node if isinstance(o, Soft) else o for o in other]
    return other


def _connect(sources: list[Node], target: Any) -> None:
    targets = list(target) if isinstance(target, (list, tuple)) else [target]
    for t in targets:
        soft = isinstance(t, Soft)
        node = t.node if soft else t
        if not isinstance(node, Node):
            raise TypeError(f"{t!r} cannot end an edge: expected a node, ~node or a list of them")
        for s in sources:
            graph = s.graph or node.graph or _current_graph.get()
            if graph is None:
                raise TypeError(f"edge {s.name} >> {node.name}: neither node belongs to a graph; "
                                "create nodes inside `with GraphNode(...)`")
            graph.add_edge(s, node, soft)



__all__ = [
    "END",
    "START",
    "ErrorHandler",
    "Node",
    "Soft",
]
