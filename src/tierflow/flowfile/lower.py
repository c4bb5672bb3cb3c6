"""Lowering: a validated :class:`FlowFile` -> the :class:`~tierflow.ir.IRModule` everything runs.

What lowering does, beyond copying:

- the registry is checked with :func:`tierflow.registry.parse_registry`; every LLM node calls
  ``llm_role``, else the legacy ``model`` alias, else the first entry's role, which the IR names
  (``primary`` is a role name like any other: naming it when no entry has it is an error);
- every name the flow looks up (roles, their modalities, routed roles, providers, pattern
  settings) is checked by :mod:`tierflow.flowfile.references`;
- the entry / exit nodes become the IR's ``__start__`` / ``__end__`` markers;
- ``{"ref": "node.key"}`` inputs become :class:`~tierflow.ir.IRRef` (``input.key`` and
  ``<entry id>.key`` read the run's inputs);
- prompt placeholders with no input of their own read the run input of the same name;
- an LLM node without a ``messages`` input reads it from its one prompt predecessor;
- the conditions on a branch node's outgoing edges become its IR ``cases`` / ``otherwise``.

Every problem is collected before :class:`~tierflow.errors.FlowCompileError` is raised. Checks
of the graph's shape (unknown edge ends, cycles, unreachable nodes, no path to the exit,
references to missing nodes...) are the IR validator's (:func:`tierflow.graph.validate`), run on
the result and reported with the rest, so flow files and Python graphs share them.
"""

from __future__ import annotations

import string
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from tierflow.errors import ConfigError, Problem
from tierflow.flowfile.conditions import ConditionError, lower_condition
from tierflow.flowfile.diagnostics import edge_label, node_label, raise_if
from tierflow.flowfile.format import INPUT_REF_NODE, BranchNode, CodeNode, FlowFile, LLMNode, PatternNode, PromptNode
from tierflow.flowfile.references import REGISTRY_WHERE, reference_problems
from tierflow.graph.validation import constant_condition
from tierflow.ir import END_ID, PARENT_ID, START_ID, IREdge, IRModule, IRNode, IRRef
from tierflow.registry import ModelEntry, parse_registry
from tierflow.splits import SplitEntry

if TYPE_CHECKING:
    from tierflow.config import ProjectConfig

_REGISTRY_WHERE = REGISTRY_WHERE


def lower_flow(flow: FlowFile, *, source: str | None = None, validate_graph: bool = True,
               project: ProjectConfig | None = None) -> IRModule:
    """Lower a flow file to IR, or raise :class:`FlowCompileError` listing every problem.

    ``project`` (the project config the flow will run with) adds the checks of providers and
    routed roles; without it they are left to run time.
    """
    lowering = _Lowering(flow)
    module = lowering.run()
    problems = lowering.problems
    problems += reference_problems(flow, module, lowering.where, project)
    if validate_graph and lowering.has_ends:  # without entry / exit, shape problems are only echoes
        problems += graph_problems(module, skip_messages=bool(lowering.missing_messages))
    raise_if(problems, source)
    return module


_FLOW_WORDED = ("has no cases", "the condition is a constant", "the condition reads no node output")
"""Graph-validator messages written for the Python API whose flow-file wording lowering gives."""


def graph_problems(module: IRModule, *, skip_messages: bool = False) -> list[Problem]:
    """Problems of the graph's shape, from the IR validator shared with the Python graph API."""
    from tierflow.graph import validate

    skip = _FLOW_WORDED + (("an LLM node needs a 'messages' input",) if skip_messages else ())
    return [p for p in validate(module) if not p.message.startswith(skip)]


def resolve_role(node: LLMNode, primary: str) -> str:
    """The role an LLM node calls: ``llm_role`` wins over the legacy ``model``; default primary."""
    return node.config.llm_role or node.config.model or primary


class _Lowering:
    """One lowering pass; collects problems instead of stopping at the first."""

    def __init__(self, flow: FlowFile) -> None:
        self.flow = flow
        self.problems: list[Problem] = []
        self.index = {n.id: i for i, n in enumerate(flow.nodes)}
        self.ids: dict[str, str] = {}  # flow id -> IR id (entry / exit are renamed)
        self.preds: dict[str, list[str]] = defaultdict(list)
        self.out_edges: dict[str, list[int]] = defaultdict(list)
        self.missing_messages: list[str] = []
        self.has_ends = True

    def where(self, node_id: str) -> str:
        i = self.index[node_id]
        return node_label(i, {"id": node_id})

    def run(self) -> IRModule:
        models, splits = self._registry()
        self._check_ids()
        for i, e in enumerate(self.flow.edges):
            self.preds[e.target].append(e.source)
            self.out_edges[e.source].append(i)
        primary = models[0].role if models else _raw_primary(self.flow)
        nodes = [self._node(n, primary) for n in self.flow.nodes]
        edges = [IREdge(self._id(e.source), self._id(e.target), bool(e.soft)) for e in self.flow.edges]
        self._check_edges()
        variables = {k: v.model_dump(mode="json", exclude_unset=True) for k, v in self.flow.variables.items()}
        meta: dict[str, Any] = {"flow_schema_version": self.flow.schema_version}
        if self.flow.config.description:
            meta["description"] = self.flow.config.description
        return IRModule(name=self.flow.name, models=models, splits=splits, nodes=nodes, edges=edges,
                        variables=variables, meta=meta)

    # --- registry and ids -------------------------------------------------------------------

    def _registry(self) -> tuple[list[ModelEntry], list[SplitEntry]]:
        raw = self.flow.config.core_identity.models
        try:
            registry = parse_registry(raw, where=_REGISTRY_WHERE)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return [], []
        return list(registry.entries), list(registry.splits.values())

    def _check_ids(self) -> None:
        for i, n in enumerate(self.flow.nodes):
            label = node_label(i, {"id": n.id})
            if n.id == INPUT_REF_NODE or n.id.startswith("__"):
                self.problems.append(Problem(label, f"the id {n.id!r} is reserved (references use "
                                                    f"'{INPUT_REF_NODE}.key' for run inputs); rename the node"))
            self.ids[n.id] = n.id
        self._check_end("entry", START_ID)
        self._check_end("exit", END_ID)

    def _check_end(self, kind: str, ir_id: str) -> None:
        """Exactly one node of ``kind`` (entry or exit); it becomes the IR's ``ir_id``."""
        found = [n.id for n in self.flow.nodes if n.kind == kind]
        if not found:
            self.has_ends = False
            self.problems.append(Problem("nodes", f"the flow has no {kind} node; add one "
                                                  f"({{\"id\": \"{'start' if kind == 'entry' else 'end'}\", "
                                                  f"\"kind\": \"{kind}\"}})"))
            return
        for extra in found[1:]:
            self.problems.append(Problem(self.where(extra), f"a flow has exactly one {kind} node "
                                                            f"(the first is {found[0]!r})"))
        self.ids[found[0]] = ir_id

    def _id(self, flow_id: str) -> str:
        return self.ids.get(flow_id, flow_id)

    def _check_edges(self) -> None:
        for i, e in enumerate(self.flow.edges):
            if e.condition is not None and e.source in self.index \
                    and self.flow.nodes[self.index[e.source]].kind != "branch":
                self.problems.append(Problem(f"{edge_label(i, e.model_dump())}.condition",
                                             "only edges leaving a branch node carry a condition"))

    # --- nodes ----------------------------------------------------------------------------------

    def _node(self, n: Any, primary: str) -> IRNode:
        meta: dict[str, Any] = {}
        if n.position is not None:
            meta["position"] = n.position.model_dump(mode="json")
        if n.ui is not None:
            meta["ui"] = n.ui
        if self._id(n.id) != n.id:
            meta["flow_id"] = n.id
        ir = IRNode(id=self._id(n.id), kind=n.kind, inputs=self._inputs(n), outputs=dict(n.outputs),
                    label=n.label, meta=meta)
        if isinstance(n, PromptNode):
            ir.config = n.config.model_dump(mode="json", exclude_none=True)
            self._prompt_inputs(n, ir)
        elif isinstance(n, LLMNode):
            self._llm(n, ir, primary)
        elif isinstance(n, CodeNode):
            ir.config = n.config.model_dump(mode="json", exclude_none=True)
        elif isinstance(n, BranchNode):
            ir.config = self._branch(n)
        elif isinstance(n, PatternNode):
            ir.config = n.config.model_dump(mode="json", exclude_unset=True)
        return ir

    def _inputs(self, n: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in n.inputs.items():
            if isinstance(value, dict) and "ref" in value:
                ref = value["ref"]
                node_id, dot, key = ref.partition(".") if isinstance(ref, str) else ("", "", "")
                if len(value) != 1 or not dot or not node_id or not key:
                    self.problems.append(Problem(f"{self.where(n.id)}.inputs.{name}",
                                                 f"expected {{\"ref\": \"node_id.key\"}}, got {value!r}"))
                    continue
                out[name] = IRRef(self._ref_node(node_id), key)
            else:
                out[name] = value
        return out

    def _ref_node(self, node_id: str) -> str:
        if node_id == INPUT_REF_NODE or self.ids.get(node_id) == START_ID:
            return PARENT_ID
        return self._id(node_id)

    def _prompt_inputs(self, n: PromptNode, ir: IRNode) -> None:
        templates = [("system", n.config.system), ("user", n.config.user)]
        templates += [(f"messages[{i}].content", m.content) for i, m in enumerate(n.config.messages or [])]
        if all(t is None for _, t in templates):
            self.problems.append(Problem(f"{self.where(n.id)}.config", "a prompt needs 'system', 'user' or "
                                                                       "'messages'"))
        for field, template in templates:
            if template is None:
                continue
            try:
                names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
            except ValueError as exc:
                self.problems.append(Problem(f"{self.where(n.id)}.config.{field}", f"bad template: {exc} "
                                             "(write {{ and }} for literal braces)"))
                continue
            for name in names:
                base = name.split(".")[0].split("[")[0]
                if base in ir.inputs:
                    continue
                if self.flow.variables and base not in self.flow.variables:
                    self.problems.append(Problem(
                        f"{self.where(n.id)}.config.{field}",
                        f"placeholder {{{name}}} is neither an input of the node nor a declared variable "
                        f"(variables: {sorted(self.flow.variables)})"))
                ir.inputs[base] = IRRef(PARENT_ID, base)

    def _llm(self, n: LLMNode, ir: IRNode, primary: str) -> None:
        c = n.config
        ir.config = {"llm_role": resolve_role(n, primary), "fallback": list(c.fallback or [])}
        for key in ("temperature", "max_tokens", "stop", "response_format"):
            if getattr(c, key) is not None:
                ir.config[key] = getattr(c, key)
        dsl = {k: v for k, v in (("style", c.style), ("goal", c.goal), ("guard", c.guard),
                                 ("validate", c.validate_), ("output", c.output)) if v is not None}
        if dsl:
            ir.meta["dsl"] = dsl
        if "messages" not in ir.inputs:
            prompts = [p for p in self.preds.get(n.id, ()) if p in self.index
                       and self.flow.nodes[self.index[p]].kind == "prompt"]
            if len(prompts) == 1:
                ir.inputs["messages"] = IRRef(prompts[0], "messages")
            else:
                self.missing_messages.append(n.id)
                self.problems.append(Problem(
                    f"{self.where(n.id)}.inputs.messages",
                    "an LLM node needs its messages: connect exactly one prompt node before it, or set "
                    "inputs.messages = {\"ref\": \"node_id.messages\"}" +
                    (f" (it follows {len(prompts)} prompt nodes: {prompts})" if prompts else "")))

    def _branch(self, n: BranchNode) -> dict[str, Any]:
        cases: list[dict[str, Any]] = []
        otherwise: list[str] = []
        for i in self.out_edges.get(n.id, ()):
            e = self.flow.edges[i]
            if e.condition is None:
                otherwise.append(self._id(e.target))
                continue
            try:
                cond, refs = lower_condition(e.condition)
            except ConditionError as exc:
                self.problems.append(Problem(f"{edge_label(i, e.model_dump())}.condition", str(exc)))
                continue
            for ref_node, _ in refs:
                if ref_node not in (PARENT_ID, INPUT_REF_NODE) and ref_node not in self.index:
                    self.problems.append(Problem(f"{edge_label(i, e.model_dump())}.condition",
                                                 f"refers to {ref_node!r}, which is not a node of this flow"))
            constant = constant_condition(cond)
            if constant is not None:
                self.problems.append(Problem(f"{edge_label(i, e.model_dump())}.condition", constant))
            cases.append({"when": _rename_refs(cond, self._ref_node), "target": self._id(e.target)})
        if not cases and not otherwise:
            self.problems.append(Problem(self.where(n.id), "a branch node needs outgoing edges, each with a "
                                                           "condition except one 'otherwise' edge"))
        if len(otherwise) > 1:
            self.problems.append(Problem(self.where(n.id), f"{len(otherwise)} outgoing edges have no condition "
                                                           f"({otherwise}); only the one 'otherwise' edge may"))
        return {"cases": cases, "otherwise": otherwise[0] if otherwise else None}


def _rename_refs(cond: Any, rename: Any) -> Any:
    """Copy of a condition with every ``{"ref": [node, key]}`` node id mapped through ``rename``."""
    if isinstance(cond, dict):
        if "ref" in cond and isinstance(cond["ref"], list) and len(cond["ref"]) == 2:
            return {"ref": [rename(cond["ref"][0]), cond["ref"][1]]}
        return {k: _rename_refs(v, rename) for k, v in cond.items()}
    if isinstance(cond, list):
        return [_rename_refs(v, rename) for v in cond]
    return cond


def _raw_primary(flow: FlowFile) -> str:
    first = flow.config.core_identity.models[0] if flow.config.core_identity.models else {}
    role = first.get("role")
    return role if isinstance(role, str) else "primary"


__all__ = ["lower_flow", "graph_problems", "resolve_role"]
