"""Seed 004, example 4: a fallback chain. The node asks role `remote` (a hosted model, which
is unreachable offline); the call layer falls back along `backup`, `gemini`, `fast` and the
result says which model answered.

    python examples/fallback.py ["your message" ...]
"""

from __future__ import annotations

import asyncio
import sys

from _shared import run_queries

from tierflow.engine import RunResult
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode, PromptNode

with GraphNode(name="fallback-pipeline") as graph:
    prompt = PromptNode(
        name="prompt",
        inputs={"prompt": {"system": "You are a helpful assistant.", "user": "{query}"},
                "query": PARENT["query"]},
    )
    llm = LLMNode(
        name="llm",
        resource_key="llm:remote",
        fallback=["llm:backup", "llm:gemini", "llm:fast"],  # the fallback chain
        max_tokens=32,
        inputs={"messages": prompt["messages"]},
    )
    llm["content"] >> PARENT["response"]
    llm["model_used"] >> PARENT["model_used"]

    START >> prompt >> llm >> END


QUERIES = ["Hello"]


def _show(query: str, result: RunResult) -> None:
    print(f"Query: {query}\n  Response: {result['response'].strip()}")
    print(f"  Model used: {result['model_used']}")
    for attempt in result.node_outputs["llm"]["call"].attempts:
        print(f"    tried {attempt.target:<40} {attempt.outcome}"
              + (f" ({attempt.error})" if attempt.error else ""))


async def main(queries: list[str] | None = None, client=None) -> list[RunResult]:
    return await run_queries(graph, queries or QUERIES, client, _show)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or None))
