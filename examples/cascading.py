"""Seed 004, example 1: cascading. A cheap model classifies the query; simple queries are
answered by the fast model, complex ones by the strong model; a soft join merges the arm taken.

    python examples/cascading.py ["your question" ...]
"""

from __future__ import annotations

import asyncio
import sys

from _shared import run_queries

from tierflow.engine import RunResult
from tierflow.graph import (
    END,
    PARENT,
    START,
    Branch,
    CodeNode,
    GraphNode,
    LLMNode,
    PromptNode,
)

_LABEL_SCHEMA = {"type": "json_schema", "json_schema": {"name": "complexity", "schema": {
    "type": "object", "properties": {"complexity": {"type": "string", "enum": ["SIMPLE", "COMPLEX"]}},
    "required": ["complexity"]}}}

with GraphNode(name="cascading-pipeline") as graph:
    # Step 1: the fast model classifies
    classify_prompt = PromptNode(
        name="classify_prompt",
        inputs={
            "prompt": {
                "system": """Classify the query complexity:
- SIMPLE: Basic questions, greetings, factual lookups
- COMPLEX: Analysis, reasoning, creative tasks

Respond with only: SIMPLE or COMPLEX""",
                "user": "{query}",
            },
            "query": PARENT["query"],
        },
    )
    # Structured output keeps a 135M-parameter classifier on its two labels: the local
    # provider turns the JSON schema into a grammar, so the answer is always one of them.
    classify = LLMNode(name="classify", resource_key="llm:fast", max_tokens=16, temperature=0.0,
                       response_format=_LABEL_SCHEMA,
                       inputs={"messages": classify_prompt["messages"]})

    # Step 2: route on the classification
    router = (Branch("complexity_router")
              .if_(classify["content"].contains("COMPLEX"), "complex_prompt")
              .otherwise("simple_prompt"))

    # Simple handler: fast model
    simple_prompt = PromptNode(
        name="simple_prompt",
        inputs={"prompt": {"system": "Answer briefly.", "user": "{query}"}, "query": PARENT["query"]},
    )
    simple_llm = LLMNode(name="simple_llm", resource_key="llm:fast", max_tokens=64,
                         inputs={"messages": simple_prompt["messages"]})

    # Complex handler: strong model
    complex_prompt = PromptNode(
        name="complex_prompt",
        inputs={
            "prompt": {"system": "You are an expert assistant. Analyse carefully and answer in detail.",
                       "user": "{query}"},
            "query": PARENT["query"],
        },
    )
    complex_llm = LLMNode(name="complex_llm", resource_key="llm:strong", max_tokens=64,
                          inputs={"messages": complex_prompt["messages"]})

    # Merge: the arm not taken reads as None
    merge = CodeNode(
        name="merge",
        code_fn=lambda simple=None, complex=None, classification=None: {
            "response": complex if complex else simple,
            "model_used": "strong" if complex else "fast",
            "classification": classification,
        },
        inputs={"simple": simple_llm["content"], "complex": complex_llm["content"],
                "classification": classify["content"]},
        outputs={"*": PARENT},
    )

    START >> classify_prompt >> classify >> router
    router >> [simple_prompt, complex_prompt]
    simple_prompt >> simple_llm
    complex_prompt >> complex_llm
    [simple_llm, complex_llm] >> ~merge  # soft join: fires once, for the arm taken
    merge >> END


QUERIES = ["What is 2+2?", "Explain quantum entanglement and its implications for quantum computing."]


def _show(query: str, result: RunResult) -> None:
    print(f"Query: {query}")
    print(f"  Classification: {result['classification'].strip()!r}")
    print(f"  Model: {result['model_used']}")
    print(f"  Response: {result['response'].strip()}")


async def main(queries: list[str] | None = None, client=None) -> list[RunResult]:
    return await run_queries(graph, queries or QUERIES, client, _show)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or None))
