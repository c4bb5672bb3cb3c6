"""Helpers shared by the seed-004 examples: the example config, a runner, a per-node trace."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierflow.calls import Client
from tierflow.engine import Engine, RunResult

CONFIG = Path(__file__).with_name("tierflow.yaml")


def example_client() -> Client:
    """A client on examples/tierflow.yaml (local models; no key needed)."""
    return Client.from_config(CONFIG)


def print_trace(result: RunResult) -> None:
    """Per node: status, latency, model, tokens and cost (the seed's "monitor usage")."""
    for name, rec in result.nodes.items():
        if rec.status != "ok" or rec.model_used is None:
            if rec.status != "ok":
                print(f"    {name:<16} {rec.status}")
            continue
        cost = "unknown" if rec.cost_usd is None else f"${rec.cost_usd:.6f}"
        print(f"    {name:<16} {rec.duration_ms:8.0f} ms  {rec.model_used:<38} "
              f"{rec.input_tokens:>4} in {rec.output_tokens:>4} out  {cost}")
    total = "unknown" if result.cost_usd is None else f"${result.cost_usd:.6f}"
    print(f"    total: {result.duration_s:.2f} s, {result.tokens} tokens, {total}")


async def run_queries(graph: Any, queries: list[str], client: Client | None,
                      show: Callable[[str, RunResult], None]) -> list[RunResult]:
    """Run ``graph`` once per query, ``show`` each result with its trace; closes a client it made."""
    own = client is None
    client = client or example_client()
    engine = Engine(graph, client=client)
    results = []
    try:
        for query in queries:
            result = await engine.run(inputs={"query": query})
            show(query, result)
            print_trace(result)
            results.append(result)
    finally:
        if own:
            await client.aclose()
    return results
