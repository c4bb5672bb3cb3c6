"""The flow IR: the one representation every front end produces and every back end consumes.

Front ends (the Python graph API, flow JSON files, imported YAML manifests) lower to an
:class:`IRModule`; back ends (the engine, the IR/YAML/DSL emitters) read one. Validation runs on
the IR, so every front end gets the same diagnostics.

Plain data only: no I/O, no provider code, nothing of tierflow but the registry.

Data flow
  A node's ``inputs`` map an input name to a literal value or an :class:`IRRef` (``node.key``;
  ``node == PARENT_ID`` reads the run's inputs). A node's ``outputs`` map its own output keys to
  run-output names (``{"*": "*"}`` forwards every key). Edges order execution; a ``soft`` edge
  into a node makes it a soft join (fires once, when the taken branch arrives).

Node kinds and their ``config``
  ``entry`` / ``exit``   the START / END markers (ids ``__start__`` / ``__end__``).
  ``prompt``  ``{"system": str|None, "user": str|None, "messages": [...]?}`` templates with
              ``{var}`` placeholders filled from the node's inputs; outputs ``messages``.
  ``llm``     ``{"llm_role"?: str, "fallback": [role, ...], "temperature"?, "max_tokens"?,
              "response_format"?, ...}``; input ``messages``; outputs ``content``,
              ``model_used``, ``usage``, ``cost_usd``. Flow files always name the role (the
              first registry entry's when the node pins none); a Python graph built without
              a registry leaves ``llm_role`` out, meaning the client registry's first entry.
  ``code``    ``{"callable": "pkg.module:function"}``; in-process graphs also set
              :attr:`IRNode.fn`. Outputs are the keys of the dict the function returns.
  ``branch``  ``{"cases": [{"when": <condition>, "target": node_id}], "otherwise": node_id}``.
  ``join``    an explicit merge point (flow files); its inputs pass through.
  ``pattern`` ``{"pattern": "cascade"|"router"|"ensemble"|"verifier"|"cost_gate"|
              "routed_cascade", ...}``.

Conditions (JSON-serialisable)
  ``{"op": "contains"|"eq"|"ne"|"lt"|"le"|"gt"|"ge"|"in"|"startswith"|"endswith",
     "left": <operand>, "right": <operand>}``, ``{"op": "and"|"or", "args": [...]}``,
  ``{"op": "not", "arg": <condition>}``, ``{"op": "truthy", "arg": <operand>}``,
  ``{"op": "const", "value": bool}``; an operand is ``{"ref": [node_id, key]}`` or
  ``{"value": literal}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from tierflow.registry import ModelEntry, Registry
from tierflow.splits import SplitEntry

IR_SCHEMA_VERSION = 1
START_ID = "__start__"
END_ID = "__end__"
PARENT_ID = "__parent__"

NodeKind = Literal["entry", "exit", "prompt", "llm", "code", "branch", "join", "pattern"]
NODE_KINDS: tuple[str, ...] = ("entry", "exit", "prompt", "llm", "code", "branch", "join", "pattern")


@runtime_checkable
class NodePattern(Protocol):
    """What a pattern node runs (:class:`tierflow.patterns.Pattern` is one): the engine awaits
    ``execute`` with the node's inputs and the call-layer client; the role checks read ``role_refs``."""

    async def execute(self, inputs: Mapping[str, Any], client: Any) -> dict[str, Any]: ...

    def role_refs(self) -> list[tuple[str, str, str]]: ...


@dataclass(frozen=True, slots=True)
class IRRef:
    """A reference to output ``key`` of node ``node`` (``PARENT_ID`` = the run's inputs)."""

    node: str
    key: str

    def to_json(self) -> dict[str, Any]:
        return {"ref": [self.node, self.key]}


@dataclass(slots=True)
class IRNode:
    id: str
    kind: NodeKind
    config: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    """Input name -> literal value or :class:`IRRef`."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Own output key -> run-output name; ``{"*": "*"}`` forwards every key."""
    label: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """Front-end data kept for lossless round trips (canvas position, original kind, ...)."""
    fn: Callable[..., Any] | NodePattern | None = None
    """In-process callable of a code node, or pattern object of a pattern node (not serialised;
    ``config`` holds their description)."""
    fallback_fn: Callable[..., Any] | None = None
    """In-process fallback of a node: called with the error if the node fails."""


@dataclass(frozen=True, slots=True)
class IREdge:
    source: str
    target: str
    soft: bool = False


@dataclass(slots=True)
class IRModule:
    """A whole flow: its name, model registry (model roles and traffic splits), nodes, edges and
    declared variables."""

    name: str
    models: list[ModelEntry]
    nodes: list[IRNode] = field(default_factory=list)
    edges: list[IREdge] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    schema_version: int = IR_SCHEMA_VERSION
    splits: list[SplitEntry] = field(default_factory=list)
    """The registry's traffic splits (``{role, split: [{role, weight}]}``), after the model roles."""

    @property
    def registry(self) -> Registry:
        return Registry(self.models, self.splits)

    def node(self, node_id: str) -> IRNode:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)


def model_decl(entry: ModelEntry) -> dict[str, Any]:
    """A model declaration of the IR (``IRModelDecl``): ``ref`` becomes ``provider``; optional fields only when set."""
    decl: dict[str, Any] = {"role": entry.role, "provider": entry.ref, "model": entry.model,
                            "modalities": list(entry.modalities)}
    if entry.temperature is not None:
        decl["temperature"] = entry.temperature
    if entry.system_context is not None:
        decl["system_context"] = entry.system_context
    if entry.fallback:
        decl["fallback"] = [{"provider": t.ref, "model": t.model} for t in entry.fallback]
    return decl


def split_decl(entry: SplitEntry) -> dict[str, Any]:
    """A traffic split as the IR manifest lists it: ``{"role", "split": [{"role", "weight"}]}``."""
    return entry.model_dump()


__all__ = ["IR_SCHEMA_VERSION", "START_ID", "END_ID", "PARENT_ID", "NodeKind", "NODE_KINDS",
           "IRRef", "IRNode", "IREdge", "IRModule", "model_decl", "split_decl"]
