"""Seed 004, example 2: task routing. The fast model labels the task (CODE, MATH, CREATIVE,
GENERAL); a branch sends it to the specialist role; a soft join merges the arm taken.

    python examples/task_routing.py ["your task" ...]
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

SPECIALISTS = {  # name -> (role, system prompt)
    "code": ("llm:code", "You are an expert programmer. Provide clean, well-documented code."),
    "math": ("llm:strong", "You are a math expert. Show step-by-step solutions."),
    "creative": ("llm:gemini", "You are a creative writer. Be imaginative and engaging."),
    "general": ("llm:fast", "You are a helpful assistant."),
}

with GraphNode(name="task-routing") as graph:
    classify_prompt = PromptNode(
        name="classify_prompt",
        inputs={
            "prompt": {
                "system": """Classify the task type:
- CODE: Programming, debugging, code explanation
- MATH: Calculations, equations, statistics
- CREATIVE: Writing, storytelling, brainstorming
- GENERAL: Everything else

Respond with only the category.""",
                "user": "{query}",
            },
            "query": PARENT["query"],
        },
    )
    classify = LLMNode(name="classify", resource_key="llm:fast", max_tokens=8,
                       inputs={"messages": classify_prompt["messages"]})

    router = (Branch("task_router")
              .if_(classify["content"].contains("CODE"), "code_prompt")
              .if_(classify["content"].contains("MATH"), "math_prompt")
              .if_(classify["content"].contains("CREATIVE"), "creative_prompt")
              .otherwise("general_prompt"))

    handlers = {}
    for kind, (resource_key, system) in SPECIALISTS.items():
        prompt = PromptNode(name=f"{kind}_prompt",
                            inputs={"prompt": {"system": system, "user": "{query}"}, "query": PARENT["query"]})
        llm = LLMNode(name=f"{kind}_llm", resource_key=resource_key, max_tokens=64,
                      inputs={"messages": prompt["messages"]})
        router >> prompt >> llm
        handlers[kind] = llm

    merge = CodeNode(
        name="merge",
        code_fn=lambda code=None, math=None, creative=None, general=None, task_type=None: {
            "response": code or math or creative or general,
            "task_type": task_type.strip() if task_type else "GENERAL",
        },
        inputs={**{kind: llm["content"] for kind, llm in handlers.items()},
                "task_type": classify["content"]},
        outputs={"*": PARENT},
    )

    START >> classify_prompt >> classify >> router
    list(handlers.values()) >> ~merge
    merge >> END


QUERIES = ["Write a Python function that reverses a string."]


def _show(query: str, result: RunResult) -> None:
    answered = next(n for n, r in result.nodes.items() if n.endswith("_llm") and r.status == "ok")
    print(f"Query: {query}\n  Task type: {result['task_type']!r} -> {answered}")
    print(f"  Response: {result['response'].strip()}")


async def main(queries: list[str] | None = None, client=None) -> list[RunResult]:
    return await run_queries(graph, queries or QUERIES, client, _show)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or None))
