"""References to node outputs and the conditions built from them.

``node["content"]`` is an :class:`OutputRef`. Comparing or testing it builds a :class:`Condition`
(``ref.contains("X")``, ``ref < 7``, ``(a == 1) & ~(b > 2)``), which lowers to the IR's
condition JSON, so a flow file can express exactly the same test. ``PARENT["query"]`` reads the
run's inputs; ``ref >> PARENT["response"]`` maps a node output to a run output.
"""

from __future__ import annotations

from typing import Any

from tierflow.ir import PARENT_ID, IRRef


class OutputRef:
    """Output ``key`` of a node (``node`` is a graph node, or the PARENT marker)."""

    __slots__ = ("key", "node")

    def __init__(self, node: Any, key: str) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError(f"an output key must be a non-empty string, got {key!r}")
        self.node = node
        self.key = key

    @property
    def node_id(self) -> str:
        return PARENT_ID if self.node is PARENT else self.node.name

    def to_ir(self) -> IRRef:
        return IRRef(self.node_id, self.key)

    def __repr__(self) -> str:
        return f"{self.node_id}[{self.key!r}]"

    __hash__ = object.__hash__

    # --- conditions -----------------------------------------------------------------------
    def contains(self, value: Any) -> Condition:
        return Condition._cmp("contains", self, value)

    def startswith(self, value: Any) -> Condition:
        return Condition._cmp("startswith", self, value)

    def endswith(self, value: Any) -> Condition:
        return Condition._cmp("endswith", self, value)

    def is_in(self, values: Any) -> Condition:
        return Condition._cmp("in", self, values)

    def truthy(self) -> Condition:
        return Condition({"op": "truthy", "arg": _operand(self)}, [self])

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return Condition._cmp("eq", self, other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return Condition._cmp("ne", self, other)

    def __lt__(self, other: Any) -> Condition:
        return Condition._cmp("lt", self, other)

    def __le__(self, other: Any) -> Condition:
        return Condition._cmp("le", self, other)

    def __gt__(self, other: Any) -> Condition:
        return Condition._cmp("gt", self, other)

    def __ge__(self, other: Any) -> Condition:
        return Condition._cmp("ge", self, other)

    def __bool__(self) -> bool:
        raise TypeError(f"{self!r} has no value while the graph is being built; use it in a "
                        "condition (e.g. ref.contains('X'), ref > 3, ref.truthy())")

    # --- output mapping ---------------------------------------------------------------------
    def __rshift__(self, other: Any) -> OutputRef:
        """``node["content"] >> PARENT["response"]``: expose the output as a run output."""
        if not (isinstance(other, OutputRef) and other.node is PARENT):
            raise TypeError(f"{self!r} >> {other!r}: an output can only be mapped to "
                            "PARENT['name'] (a run output)")
        if self.node is PARENT:
            raise TypeError("PARENT[...] >> PARENT[...] maps nothing; map a node's output")
        self.node.outputs[self.key] = other.key
        return other


class _Parent:
    """The ``PARENT`` marker: ``PARENT["x"]`` is run input / run output ``x``."""

    __slots__ = ()
    name = PARENT_ID

    def __getitem__(self, key: str) -> OutputRef:
        return OutputRef(self, key)

    def __repr__(self) -> str:
        return "PARENT"


PARENT = _Parent()


def _operand(value: Any) -> dict[str, Any]:
    if isinstance(value, OutputRef):
        return value.to_ir().to_json()
    if isinstance(value, Condition):
        raise TypeError("a condition cannot be compared; combine conditions with & | ~")
    return {"value": value}


class Condition:
    """A boolean test over node outputs; lowers to the IR condition JSON (see ``tierflow.ir``)."""

    __slots__ = ("json", "refs")

    def __init__(self, json: dict[str, Any], refs: list[OutputRef]) -> None:
        self.json = json
        self.refs = refs

    @classmethod
    def _cmp(cls, op: str, left: Any, right: Any) -> Condition:
        refs = [v for v in (left, right) if isinstance(v, OutputRef)]
        return cls({"op": op, "left": _operand(left), "right": _operand(right)}, refs)

    @classmethod
    def coerce(cls, value: Any) -> Condition:
        """A Condition from a Condition, an OutputRef (truthiness) or a plain bool (constant)."""
        if isinstance(value, Condition):
            return value
        if isinstance(value, OutputRef):
            return value.truthy()
        if isinstance(value, bool):
            return cls({"op": "const", "value": value}, [])
        raise TypeError(f"expected a condition built from node outputs (e.g. node['content']."
                        f"contains('X')), an output reference or a bool; got {type(value).__name__}")

    def __and__(self, other: Any) -> Condition:
        other = Condition.coerce(other)
        return Condition({"op": "and", "args": [self.json, other.json]}, self.refs + other.refs)

    def __or__(self, other: Any) -> Condition:
        other = Condition.coerce(other)
        return Condition({"op": "or", "args": [self.json, other.json]}, self.refs + other.refs)

    def __invert__(self) -> Condition:
        return Condition({"op": "not", "arg": self.json}, list(self.refs))

    def __bool__(self) -> bool:
        raise TypeError("a graph condition has no value at build time; combine conditions with "
                        "& | ~ instead of and / or / not")

    def __repr__(self) -> str:
        return f"Condition({self.json})"


__all__ = ["PARENT", "Condition", "OutputRef"]
