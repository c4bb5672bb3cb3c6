"""Seed 004, example 5: quality gate. The fast model answers; the fast model rates the answer;
below 7/10 the strong model answers again; a soft join merges the arm taken.

    python examples/quality_gate.py ["your question" ...]
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

with GraphNode(name="quality-gate") as graph:
    prompt = PromptNode(
        name="prompt",
        inputs={"prompt": {"system": "Answer the question.", "user": "{query}"}, "query": PARENT["query"]},
    )
    fast_llm = LLMNode(name="fast_llm", resource_key="llm:fast", max_tokens=48,
                       inputs={"messages": prompt["messages"]})

    quality_prompt = PromptNode(
        name="quality_prompt",
        inputs={
            "prompt": {
                "system": """Rate the quality of this answer on a scale of 1-10.
Consider: accuracy, completeness, clarity.
Respond with only a number.""",
                "user": "Question: {query}\n\nAnswer: {answer}",
            },
            "query": PARENT["query"],
            "answer": fast_llm["content"],
        },
    )
    quality_check = LLMNode(name="quality_check", resource_key="llm:fast", max_tokens=4,
                            inputs={"messages": quality_prompt["messages"]})

    parse_score = CodeNode(
        name="parse_score",
        code_fn=lambda score_str: {"score": int("".join(filter(str.isdigit, score_str))[:2] or 5)},
        inputs={"score_str": quality_check["content"]},
        returns=["score"],
    )

    quality_router = (Branch("quality_router")
                      .if_(parse_score["score"] < 7, "retry_prompt")
                      .otherwise("use_fast"))

    use_fast = CodeNode(
        name="use_fast",
        code_fn=lambda answer, score: {"response": answer, "quality_score": score, "model_used": "fast"},
        inputs={"answer": fast_llm["content"], "score": parse_score["score"]},
        returns=["response", "quality_score", "model_used"],
    )

    retry_prompt = PromptNode(
        name="retry_prompt",
        inputs={"prompt": {"system": "Provide a detailed, high-quality answer.", "user": "{query}"},
                "query": PARENT["query"]},
    )
    strong_llm = LLMNode(name="strong_llm", resource_key="llm:strong", max_tokens=64,
                         inputs={"messages": retry_prompt["messages"]})
    retry_result = CodeNode(
        name="retry_result",
        code_fn=lambda answer, original_score: {"response": answer, "quality_score": original_score,
                                                "model_used": "strong (retry)"},
        inputs={"answer": strong_llm["content"], "original_score": parse_score["score"]},
        returns=["response", "quality_score", "model_used"],
    )

    merge = CodeNode(
        name="merge",
        code_fn=lambda fast=None, strong=None: fast or strong,
        inputs={"fast": use_fast["response"], "strong": retry_result["response"]},
        outputs={"result": PARENT["response"]},  # a non-dict return value is output `result`
    )
    use_fast["model_used"] >> PARENT["model_used"]
    retry_result["model_used"] >> PARENT["model_used"]  # exclusive arms: one writer per run
    parse_score["score"] >> PARENT["quality_score"]

    START >> prompt >> fast_llm >> quality_prompt >> quality_check >> parse_score
    parse_score >> quality_router
    quality_router >> [use_fast, retry_prompt]
    retry_prompt >> strong_llm >> retry_result
    [use_fast, retry_result] >> ~merge
    merge >> END


QUERIES = ["Why is the sky blue?"]


def _show(query: str, result: RunResult) -> None:
    print(f"Query: {query}\n  Quality score of the fast answer: {result['quality_score']}")
    print(f"  Model used: {result['model_used']}\n  Response: {result['response'].strip()}")


async def main(queries: list[str] | None = None, client=None) -> list[RunResult]:
    return await run_queries(graph, queries or QUERIES, client, _show)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or None))
