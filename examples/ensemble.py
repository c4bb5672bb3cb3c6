"""Seed 004, example 3: ensemble. Three models answer the same prompt in parallel (a hard
fan-in: the aggregate waits for all three); the answers are compared and aggregated.

    python examples/ensemble.py ["your question" ...]
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

from _shared import run_queries

from tierflow.engine import RunResult
from tierflow.graph import END, PARENT, START, CodeNode, GraphNode, LLMNode, PromptNode

with GraphNode(name="ensemble-pipeline") as graph:
    prompt = PromptNode(
        name="prompt",
        inputs={"prompt": {"system": "Answer the question accurately, in one word.", "user": "{query}"},
                "query": PARENT["query"]},
    )
    llm_openai = LLMNode(name="llm_openai", resource_key="llm:strong", max_tokens=8,
                         inputs={"messages": prompt["messages"]})
    llm_gemini = LLMNode(name="llm_gemini", resource_key="llm:gemini", max_tokens=8,
                         inputs={"messages": prompt["messages"]})
    llm_azure = LLMNode(name="llm_azure", resource_key="llm:backup", max_tokens=8,
                        inputs={"messages": prompt["messages"]})

    aggregate = CodeNode(
        name="aggregate",
        code_fn=lambda r1, r2, r3, query: aggregate_responses(r1, r2, r3, query),
        inputs={"r1": llm_openai["content"], "r2": llm_gemini["content"], "r3": llm_azure["content"],
                "query": PARENT["query"]},
        outputs={"*": PARENT},
    )

    START >> prompt >> [llm_openai, llm_gemini, llm_azure] >> aggregate >> END


def aggregate_responses(r1: str | None, r2: str | None, r3: str | None, query: str) -> dict:
    """Full agreement -> that answer; otherwise the majority vote, with the votes reported."""
    responses = [r for r in [r1, r2, r3] if r]
    if not responses:
        return {"response": "No response available", "confidence": 0}
    vote = majority_vote(responses)
    if len(vote["votes"]) == 1:
        return {"response": responses[0], "confidence": 1.0, "agreement": "full"}
    return {"response": vote["result"], "confidence": vote["confidence"], "agreement": "partial",
            "all_responses": responses}


def majority_vote(responses: list[str]) -> dict:
    """Simple majority voting over normalised answers."""
    votes = Counter(r.strip().strip(".").upper() for r in responses if r)
    if votes:
        winner, count = votes.most_common(1)[0]
        return {"result": winner, "confidence": count / len(responses), "votes": dict(votes)}
    return {"result": None, "confidence": 0, "votes": {}}


QUERIES = ["What is the capital of France?"]


def _show(query: str, result: RunResult) -> None:
    print(f"Query: {query}\n  Response: {result['response'].strip()!r}  "
          f"confidence {result['confidence']:.2f} ({result.get('agreement')} agreement)")


async def main(queries: list[str] | None = None, client=None) -> list[RunResult]:
    return await run_queries(graph, queries or QUERIES, client, _show)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or None))
