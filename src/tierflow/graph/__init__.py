"""The Python graph API (seed 004): nodes, ``>>`` edges, ``~`` soft joins, branches, lowering to
the IR and build-time validation. Run a graph with :class:`tierflow.engine.Engine`."""

from tierflow.graph.nodes import (
    END,
    START,
    Branch,
    CodeNode,
    GraphNode,
    LLMNode,
    Node,
    PromptNode,
    Soft,
    role_of,
)
from tierflow.graph.refs import PARENT, Condition, OutputRef
from tierflow.graph.validation import check, validate

__all__ = [
    "END",
    "PARENT",
    "START",
    "Branch",
    "CodeNode",
    "Condition",
    "GraphNode",
    "LLMNode",
    "Node",
    "OutputRef",
    "PromptNode",
    "Soft",
    "check",
    "role_of",
    "validate",
]
