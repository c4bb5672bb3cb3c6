"""The flow file format: pydantic models of a flow JSON file, and its JSON Schema.

A flow file is what a canvas saves and a pull request reviews::

    {"schema_version": 1,
     "config": {"core_identity": {"name": "Support", "models": [<model registry>]}},
     "variables": {"message": {"type": "string", "description": "..."}},
     "nodes": [{"id": "start", "kind": "entry"},
               {"id": "ask", "kind": "prompt", "config": {"user": "{message}"}},
               {"id": "answer", "kind": "llm", "config": {"llm_role": "fast"},
                "outputs": {"content": "answer"}, "position": {"x": 300, "y": 80}},
               {"id": "end", "kind": "exit"}],
     "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "answer"},
               {"source": "answer", "target": "end"}]}

Nodes are a closed set of kinds, each with its own ``config`` model. A node's ``inputs`` map an
input name to a literal or to a reference ``{"ref": "node_id.key"}`` (``input.key`` reads the
run's inputs). Branch conditions are written on the edges leaving a branch node (see
:mod:`tierflow.flowfile.conditions`). Canvas data (position, and anything else a canvas wants
under ``ui``) is kept as written, so flow -> YAML -> flow is lossless.

Models are dumped with :meth:`FlowFile.to_json`, which writes back exactly the fields that were
set: loading and dumping a file does not add defaults to it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FLOW_SCHEMA_VERSION = 1
"""The newest flow file ``schema_version`` this tierflow reads and writes."""

FLOW_NODE_KINDS: tuple[str, ...] = ("entry", "exit", "prompt", "llm", "code", "branch", "join", "pattern")
INPUT_REF_NODE = "input"
"""The reserved node name that references read the run's inputs from (``input.message``)."""

_STRICT = ConfigDict(extra="forbid")


class Position(BaseModel):
    """Where the canvas draws a node."""

    model_config = _STRICT
    x: int | float
    y: int | float


class _NodeBase(BaseModel):
    model_config = _STRICT

    id: str = Field(pattern=r"^[^.\s]+$", description="Unique node id (no dots or spaces); edges and "
                                                       "references (\"node_id.key\") use it.")
    label: str | None = Field(default=None, description="Display name on the canvas.")
    position: Position | None = None
    ui: dict[str, Any] | None = Field(default=None, description="Any other canvas data, kept as written.")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Input name -> literal value, or {\"ref\": \"node_id.key\"} (\"input.key\" = run input).")
    outputs: dict[str, str] = Field(
        default_factory=dict,
        description="Own output key -> run output name ({\"*\": \"*\"} forwards every key).")


class _EmptyConfig(BaseModel):
    model_config = _STRICT


class PromptMessage(BaseModel):
    model_config = _STRICT
    role: Literal["system", "user", "assistant"]
    content: str


class PromptConfig(BaseModel):
    """Chat message templates; ``{name}`` placeholders are filled from the node's inputs."""

    model_config = _STRICT
    system: str | None = None
    user: str | None = None
    messages: list[PromptMessage] | None = None


class LLMConfig(BaseModel):
    """One model call. ``llm_role`` names a registry role (the legacy ``model`` key is an alias)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    llm_role: str | None = Field(default=None, description="Registry role; default: the first entry.")
    model: str | None = Field(default=None, description="Legacy alias of llm_role.")
    fallback: list[str] | None = Field(
        default=None, description="Extra roles or 'provider/model' strings tried after the role's chain.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    stop: list[str] | None = None
    response_format: dict[str, Any] | None = None
    style: Literal["flexible", "guarded"] | None = Field(
        default=None, description="DSL block kind (@flexible / @guarded); default flexible.")
    goal: str | None = None
    guard: str | None = Field(default=None, description="DSL guard expression, e.g. 'confidence > 0.7'.")
    validate_: str | None = Field(default=None, alias="validate",
                                  description="DSL validate expression, e.g. 'result.citations.length > 0'.")
    output: str | None = Field(default=None, description="DSL output type name.")


class CodeConfig(BaseModel):
    """A Python function, named by import path: ``"package.module:function"``."""

    model_config = _STRICT
    callable: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    returns: list[str] | None = Field(default=None, description="The keys of the dict the function "
                                                                "returns, so readers can be checked.")


PatternName = Literal["cascade", "router", "ensemble", "verifier", "cost_gate", "routed_cascade"]
"""The patterns a flow can name (``tierflow.patterns.PATTERNS``; a test keeps the two equal)."""


class PatternConfig(BaseModel):
    """A built-in multi-model pattern; its other settings are passed to the pattern as written."""

    model_config = ConfigDict(extra="allow")
    pattern: PatternName


class EntryNode(_NodeBase):
    kind: Literal["entry"]
    config: _EmptyConfig = Field(default_factory=_EmptyConfig)


class ExitNode(_NodeBase):
    kind: Literal["exit"]
    config: _EmptyConfig = Field(default_factory=_EmptyConfig)


class PromptNode(_NodeBase):
    kind: Literal["prompt"]
    config: PromptConfig


class LLMNode(_NodeBase):
    kind: Literal["llm"]
    config: LLMConfig = Field(default_factory=LLMConfig)


class CodeNode(_NodeBase):
    kind: Literal["code"]
    config: CodeConfig


class BranchNode(_NodeBase):
    """Routes to one successor; the conditions are on its outgoing edges."""

    kind: Literal["branch"]
    config: _EmptyConfig = Field(default_factory=_EmptyConfig)


class JoinNode(_NodeBase):
    """An explicit merge point; its inputs pass through."""

    kind: Literal["join"]
    config: _EmptyConfig = Field(default_factory=_EmptyConfig)


class PatternNode(_NodeBase):
    kind: Literal["pattern"]
    config: PatternConfig


FlowNode = Annotated[
    EntryNode | ExitNode | PromptNode | LLMNode | CodeNode | BranchNode | JoinNode | PatternNode,
    Field(discriminator="kind"),
]


class FlowEdge(BaseModel):
    """``source`` runs before ``target``. ``condition`` only on edges leaving a branch node."""

    model_config = _STRICT
    id: str | None = None
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    soft: bool | None = Field(default=None, description="Soft edge: the target fires once, when the "
                                                        "taken branch arrives.")
    condition: str | dict[str, Any] | None = Field(
        default=None, description="Branch condition: an expression such as "
                                  "\"'billing' in classify.content\", or the IR condition JSON. "
                                  "The one edge of a branch without a condition is 'otherwise'.")
    source_handle: str | None = None
    target_handle: str | None = None
    label: str | None = None
    ui: dict[str, Any] | None = None


class Variable(BaseModel):
    """A declared run input."""

    model_config = _STRICT
    type: Literal["string", "number", "integer", "boolean", "object", "array"] | None = None
    default: Any = None
    description: str | None = None


class CoreIdentity(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    models: list[dict[str, Any]] = Field(
        min_length=1, description="The model registry; the first entry serves LLM nodes that pin no role. "
                                  "Roles are unique (not expressible in JSON Schema; the compiler checks it).")


class FlowConfig(BaseModel):
    model_config = _STRICT
    core_identity: CoreIdentity
    description: str | None = None


class FlowFile(BaseModel):
    """A whole flow file."""

    model_config = ConfigDict(extra="forbid", title="tierflow flow file")
    schema_version: int = Field(ge=1, le=FLOW_SCHEMA_VERSION)
    config: FlowConfig
    nodes: list[FlowNode]
    edges: list[FlowEdge] = Field(default_factory=list)
    variables: dict[str, Variable] = Field(default_factory=dict)
    meta: dict[str, Any] | None = Field(default=None, description="Free data kept as written.")

    @property
    def name(self) -> str:
        return self.config.core_identity.name

    def to_json(self) -> dict[str, Any]:
        """The file's JSON value: only the fields that were set, under their file names."""
        data = self.model_dump(mode="json", exclude_unset=True, by_alias=True)
        data["nodes"] = [_ordered(n, _NODE_KEY_ORDER) for n in data["nodes"]]
        return _ordered(data, _FILE_KEY_ORDER)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"


_NODE_KEY_ORDER = ("id", "kind", "label", "position", "config", "inputs", "outputs", "ui")
_FILE_KEY_ORDER = ("schema_version", "config", "variables", "nodes", "edges", "meta")


def _ordered(data: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """``data`` with its keys in a readable order (JSON objects are unordered; files are read)."""
    return {k: data[k] for k in (*order, *data) if k in data}


def flow_json_schema() -> dict[str, Any]:
    """The JSON Schema of the flow file format (draft 2020-12).

    Registry entries carry every rule JSON Schema can express: required fields, the role name
    pattern, the temperature range, the modalities enum, the fallback shape, no unknown keys,
    ``system_context`` only with a text modality, and no two identical entries; a traffic split
    entry (``{role, split: [{role, weight > 0}]}``) is the other shape an entry may take. Rules
    across entries or nodes (unique role names, declared roles, chat modalities of LLM nodes'
    roles, a split's variants) are the compiler's.
    """
    from tierflow.registry import ModelEntry
    from tierflow.splits import SplitEntry

    schema = FlowFile.model_json_schema(by_alias=True)
    entry = ModelEntry.model_json_schema(ref_template="#/$defs/{model}")
    schema["$defs"].update(entry.pop("$defs", {}))
    text_modality = {"anyOf": [{"contains": {"const": m}} for m in ("text", "structured_output")]}
    entry["if"] = {"required": ["system_context"], "properties": {"system_context": {"type": "string"}}}
    entry["then"] = {"properties": {"modalities": text_modality}}
    schema["$defs"]["ModelEntry"] = entry
    split = SplitEntry.model_json_schema(ref_template="#/$defs/{model}")
    schema["$defs"].update(split.pop("$defs", {}))
    schema["$defs"]["SplitEntry"] = split
    models = schema["$defs"]["CoreIdentity"]["properties"]["models"]
    # an entry with a "split" key is a split, any other a model role (as the compiler reads them)
    models["items"] = {"if": {"type": "object", "required": ["split"]}, "then": {"$ref": "#/$defs/SplitEntry"},
                       "else": {"$ref": "#/$defs/ModelEntry"}}
    models["prefixItems"] = [{"$ref": "#/$defs/ModelEntry"}]  # the first entry names a model
    models["uniqueItems"] = True
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:tierflow:schema:flow:v{FLOW_SCHEMA_VERSION}"
    return schema


__all__ = ["FLOW_SCHEMA_VERSION", "FLOW_NODE_KINDS", "INPUT_REF_NODE", "Position", "PromptMessage",
           "PromptConfig", "LLMConfig", "CodeConfig", "PatternName", "PatternConfig", "EntryNode", "ExitNode",
           "PromptNode", "LLMNode", "CodeNode", "BranchNode", "JoinNode", "PatternNode", "FlowNode",
           "FlowEdge", "Variable", "CoreIdentity", "FlowConfig", "FlowFile", "flow_json_schema"]
