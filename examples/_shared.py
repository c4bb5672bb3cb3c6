"""Helpers shared by the seed-004 examples: the example config and a per-node trace."""

from __future__ import annotations

from pathlib import Path

from tierflow.calls import Client
from tierflow.engine import RunResult

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
