"""The Python graph API: nodes, ``>>`` edges, ``~`` soft joins, branches, lowering to
the IR and build-time validation. Run a graph with :class:`tierflow.engine.Engine`."""

from tierflow.graph.base import END, START, Node, Soft
from tierflow.graph.nodes import (
    Branch,
    CodeNode,
    GraphNode,
    LLMNode,
    PromptNode,
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
