"""The Python graph API: nodes, the ``with GraphNode(...)`` block, ``>>`` edges and ``~`` soft joins.

::

    with GraphNode(name="demo") as graph:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"user": "{query}"}, "query": PARENT["query"]})
        llm = LLMNode(name="llm", role="fast", inputs={"messages": prompt["messages"]})
        llm["content"] >> PARENT["response"]
        START >> prompt >> llm >> END

A node created inside the ``with`` block joins that graph. ``a >> b`` adds an edge and returns
``b`` (so chains read left to right); ``a >> [b, c]`` fans out; ``[b, c] >> d`` fans in (a hard
join: ``d`` waits for both); ``[b, c] >> ~d`` makes ``d`` a soft join (it fires once, when the
branch that was taken reaches it). Leaving the block lowers the graph to the IR and validates it.

:class:`Node`, START / END and the edge operators live in :mod:`tierflow.graph.base`; this module
holds the node kinds and :class:`GraphNode`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tierflow.graph.base import ErrorHandler, Node, _current_graph
from tierflow.graph.refs import Condition, OutputRef
from tierflow.ir import END_ID, START_ID


class PromptNode(Node):
    """Renders chat messages from ``system`` / ``user`` templates with ``{var}`` placeholders.

    The IR form puts the templates in ``inputs["prompt"]`` (a dict with ``system`` / ``user``,
    a plain string for the user turn, or a list of messages); ``system=`` / ``user=`` also work.
    Every other input fills a placeholder. Output: ``messages``.
    """

    kind = "prompt"
    produces = ("messages",)

    def __init__(self, name: str, *, inputs: Mapping[str, Any] | None = None,
                 system: str | None = None, user: str | None = None, **kwargs: Any) -> None:
        inputs = dict(inputs or {})
        prompt = inputs.pop("prompt", None)
        self.template: dict[str, Any] = {}
        if isinstance(prompt, str):
            self.template["user"] = prompt
        elif isinstance(prompt, Mapping):
            self.template.update(prompt)
        elif isinstance(prompt, list):
            self.template["messages"] = prompt
        elif prompt is not None:
            raise TypeError(f"PromptNode {name!r}: inputs['prompt'] must be a dict with 'system'/"
                            f"'user', a string or a list of messages; got {type(prompt).__name__}")
        if system is not None:
            self.template["system"] = system
        if user is not None:
            self.template["user"] = user
        super().__init__(name, inputs=inputs, **kwargs)

    def ir_config(self) -> dict[str, Any]:
        return dict(self.template)


class LLMNode(Node):
    """Calls a model by role through the call layer; outputs ``content``, ``model_used``, ``usage``,
    ``cost_usd`` and ``call`` (the whole :class:`~tierflow.types.CallResult`).

    ``resource_key="llm:fast"`` (the ``resources.yaml`` form) and ``role="fast"`` name the same role; a
    ``"provider/model"`` string names a model directly; with neither, the node calls the
    registry's first entry (the implicit primary). ``fallback`` lists more roles, ``llm:`` keys or
    provider/model strings, tried in order after the role's own chain.
    """

    kind = "llm"
    produces = ("content", "model_used", "usage", "cost_usd", "call")

    def __init__(self, name: str, *, resource_key: str | None = None, role: str | None = None,
                 fallback: Iterable[str] | None = None, inputs: Mapping[str, Any] | None = None,
                 outputs: Mapping[str, Any] | None = None, on_error: ErrorHandler | None = None,
                 temperature: float | None = None, max_tokens: int | None = None,
                 response_format: dict[str, Any] | None = None, logprobs: bool = False,
                 **params: Any) -> None:
        if resource_key is not None and role is not None:
            raise TypeError(f"LLMNode {name!r}: give resource_key or role, not both")
        spec = resource_key if resource_key is not None else role
        self.role: str | None = None if spec is None else role_of(spec)
        self.fallback = [role_of(f) for f in (fallback or [])]
        self.params: dict[str, Any] = {k: v for k, v in {
            "temperature": temperature, "max_tokens": max_tokens,
            "response_format": response_format}.items() if v is not None}
        if logprobs:
            self.params["logprobs"] = True
        self.params.update(params)
        super().__init__(name, inputs=inputs, outputs=outputs, on_error=on_error)

    def ir_config(self) -> dict[str, Any]:
        pinned = {} if self.role is None else {"llm_role": self.role}  # absent: the first registry entry
        return {**pinned, "fallback": list(self.fallback), **self.params}


class CodeNode(Node):
    """Runs a Python function (sync or async) with the node's inputs as keyword arguments.

    The function returns a dict of outputs; any other value becomes output ``result``.
    ``returns=["a", "b"]`` declares the keys up front so build-time validation can check readers.
    """

    kind = "code"

    def __init__(self, name: str, code_fn: Callable[..., Any] | None = None, *,
                 inputs: Mapping[str, Any] | None = None, outputs: Mapping[str, Any] | None = None,
                 returns: Iterable[str] | None = None, on_error: ErrorHandler | None = None,
                 fn: Callable[..., Any] | None = None) -> None:
        fn = code_fn if code_fn is not None else fn
        if not callable(fn):
            raise TypeError(f"CodeNode {name!r}: code_fn must be a function, got {type(fn).__name__}")
        self.fn = fn
        self.produces = tuple(returns) if returns is not None else None
        super().__init__(name, inputs=inputs, outputs=outputs, on_error=on_error)

    def ir_config(self) -> dict[str, Any]:
        module = getattr(self.fn, "__module__", None) or "?"
        qualname = getattr(self.fn, "__qualname__", None) or type(self.fn).__name__
        config: dict[str, Any] = {"callable": f"{module}:{qualname}"}
        if self.produces is not None:
            config["returns"] = list(self.produces)
        return config


class Branch(Node):
    """Chooses one successor: ``Branch("r").if_(cond, "a").if_(cond2, "b").otherwise("c")``.

    Cases are tested in order; the first true one wins, else ``otherwise`` (if any). Targets
    are node names or nodes. Nodes on arms not taken are skipped, and read as ``None``.
    """

    kind = "branch"
    produces = ("target",)

    def __init__(self, name: str, **kwargs: Any) -> None:
        self.cases: list[tuple[Condition, str]] = []
        self.default: str | None = None
        super().__init__(name, **kwargs)

    def if_(self, condition: Condition | OutputRef | bool, target: str | Node) -> Branch:
        self.cases.append((Condition.coerce(condition), _target_name(target)))
        return self

    def otherwise(self, target: str | Node) -> Branch:
        self.default = _target_name(target)
        return self

    def ir_config(self) -> dict[str, Any]:
        return {"cases": [{"when": c.json, "target": t} for c, t in self.cases],
                "otherwise": self.default}


class GraphNode:
    """A graph: a ``with`` block collects its nodes and edges; on exit it is lowered and checked.

    ``reducers`` declares how run outputs written by several nodes combine: ``"append"``,
    ``"extend"``, ``"sum"``, ``"min"``, ``"max"``, ``"first"``, ``"last"`` or a function
    ``(old, new) -> merged``. Without one, two writers of an output are a build error.
    """

    def __init__(self, name: str, *, reducers: Mapping[str, Any] | None = None,
                 description: str | None = None) -> None:
        self.name = name
        self.description = description
        self.reducers: dict[str, Any] = dict(reducers or {})
        self.nodes: dict[str, Node] = {}
        self.edges: list[tuple[str, str, bool]] = []
        self._duplicates: list[str] = []
        self._token: Any = None
        self._ir: Any = None

    def __enter__(self) -> GraphNode:
        self._token = _current_graph.set(self)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        _current_graph.reset(self._token)
        if exc_type is None:
            self.build()

    def _add_node(self, node: Node) -> None:
        if node.name in self.nodes or node.name in (START_ID, END_ID):
            self._duplicates.append(node.name)
            return
        self.nodes[node.name] = node

    def add_edge(self, source: Node, target: Node, soft: bool = False) -> None:
        self.edges.append((source.name, target.name, soft))

    def build(self) -> Any:
        """Lower to an :class:`~tierflow.ir.IRModule` and validate it (GraphBuildError lists all)."""
        from tierflow.graph.lowering import lower
        from tierflow.graph.validation import check

        module = lower(self)
        check(module, extra=self._api_problems())
        self._ir = module
        return module

    def to_ir(self) -> Any:
        """The validated IR module (built once, on leaving the ``with`` block or on demand)."""
        return self._ir if self._ir is not None else self.build()

    def _api_problems(self) -> list[Any]:
        from tierflow.errors import Problem

        problems = [Problem(f"node {n!r}", "two nodes have this name; node names must be unique "
                                           "within a graph") for n in dict.fromkeys(self._duplicates)]
        for node in self.nodes.values():
            if isinstance(node, CodeNode):
                problems += _signature_problems(node)
        return problems

    def __repr__(self) -> str:
        return f"GraphNode({self.name!r}, {len(self.nodes)} nodes)"


# --- helpers --------------------------------------------------------------------------------


def role_of(spec: str) -> str:
    """``"llm:fast"`` -> ``"fast"``; roles and ``provider/model`` strings pass through."""
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"a model is named by a role, 'llm:<role>' or 'provider/model'; got {spec!r}")
    return spec.removeprefix("llm:")


def _target_name(target: str | Node) -> str:
    if isinstance(target, Node):
        return target.name
    if isinstance(target, str) and target:
        return target
    raise TypeError(f"a branch target is a node or a node name, got {target!r}")


def _signature_problems(node: CodeNode) -> list[Any]:
    """Inputs the function cannot accept, and required parameters no input fills."""
    from tierflow.errors import Problem

    try:
        sig = inspect.signature(node.fn)
    except (TypeError, ValueError):
        return []
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        accepted = None
    else:
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    problems = []
    for key in node.inputs:
        if accepted is not None and key not in accepted:
            problems.append(Problem(f"node {node.name!r} input {key!r}",
                                    f"the function takes no parameter {key!r} (it takes "
                                    f"{sorted(accepted)}); rename the input or add the parameter"))
    for p in params:
        if (p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and p.name not in node.inputs):
            problems.append(Problem(f"node {node.name!r}", f"the function's required parameter "
                                    f"{p.name!r} has no input; add inputs={{{p.name!r}: ...}} or "
                                    "give it a default"))
    return problems


__all__ = [
    "Branch",
    "CodeNode",
    "GraphNode",
    "LLMNode",
    "PromptNode",
    "role_of",
]
