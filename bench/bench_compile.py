"""Compile a 1,000-node flow file: how long each stage takes, against a baseline in the same run.

    .venv/bin/python bench/bench_compile.py [--nodes 1000] [--repeat 7]

The flow is a chain of segments prompt -> llm -> branch -> (code | code) -> soft join, so the
compiler meets every common node kind, branch conditions and soft edges. Stages: load (JSON
parse + format validation), lower (registry and role checks, lowering, the shared graph
validator), and each emitter. The baseline is ``json.loads`` + ``json.dumps`` of the same file,
the least any tool that reads and writes the file must do; the ratio says what compiling costs
on top. Times are medians of ``--repeat`` runs; the target is "well under a second" for 1,000 nodes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from tierflow.flowfile import emit_dsl, emit_ir, emit_yaml, lower_flow, parse_flow_text

_SEGMENT = 6


def make_flow(n_nodes: int) -> dict[str, Any]:
    """A valid flow of about ``n_nodes`` nodes (entry and exit included)."""
    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "entry", "position": {"x": 0, "y": 0}}]
    edges: list[dict[str, Any]] = []
    prev = "start"
    for i in range((n_nodes - 2) // _SEGMENT):
        p, llm, br, a, b, j = (f"{k}{i}" for k in ("prompt", "llm", "branch", "a", "b", "join"))
        nodes += [
            {"id": p, "kind": "prompt", "config": {"system": "Step {step}.", "user": "{question}"},
             "inputs": {"step": i}, "position": {"x": i * 100, "y": 0}},
            {"id": llm, "kind": "llm", "label": f"Model call {i}",
             "config": {"llm_role": "fast" if i % 2 else "primary", "max_tokens": 16}},
            {"id": br, "kind": "branch"},
            {"id": a, "kind": "code", "config": {"callable": "json:dumps", "returns": ["x"]},
             "inputs": {"obj": {"ref": f"{llm}.content"}}},
            {"id": b, "kind": "code", "config": {"callable": "json:dumps", "returns": ["x"]},
             "inputs": {"obj": {"ref": f"{llm}.content"}}},
            {"id": j, "kind": "join"},
        ]
        edges += [{"source": prev, "target": p}, {"source": p, "target": llm}, {"source": llm, "target": br},
                  {"source": br, "target": a, "condition": f"'yes' in {llm}.content and input.level > {i}"},
                  {"source": br, "target": b},
                  {"source": a, "target": j, "soft": True}, {"source": b, "target": j, "soft": True}]
        prev = j
    nodes.append({"id": "end", "kind": "exit"})
    edges.append({"source": prev, "target": "end"})
    return {"schema_version": 1,
            "config": {"core_identity": {"name": "bench", "models": [
                {"role": "primary", "ref": "openai", "model": "gpt-4o", "temperature": 0.5},
                {"role": "fast", "ref": "openai", "model": "gpt-4o-mini",
                 "fallback": [{"ref": "anthropic", "model": "claude-3-5-haiku-latest"}]}]}},
            "nodes": nodes, "edges": edges}


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    text = json.dumps(make_flow(args.nodes), indent=2)
    flow = parse_flow_text(text)
    module = lower_flow(flow)
    n = len(flow.nodes)

    baseline = _median(lambda: json.dumps(json.loads(text), indent=2), args.repeat)
    stages = {
        "load (parse + validate)": _median(lambda: parse_flow_text(text), args.repeat),
        "lower (+ graph validation)": _median(lambda: lower_flow(flow), args.repeat),
        "emit ir": _median(lambda: emit_ir(module), args.repeat),
        "emit yaml": _median(lambda: emit_yaml(flow), args.repeat),
        "emit dsl": _median(lambda: emit_dsl(module), args.repeat),
    }
    for fmt, emit in (("ir", lambda: emit_ir(lower_flow(parse_flow_text(text)))),
                      ("yaml", lambda: (lower_flow(f := parse_flow_text(text)), emit_yaml(f))),
                      ("dsl", lambda: emit_dsl(lower_flow(parse_flow_text(text))))):
        stages[f"compile --format {fmt} (total)"] = _median(emit, args.repeat)

    print(f"flow: {n} nodes, {len(flow.edges)} edges, {len(text) / 1024:.0f} KiB; median of {args.repeat} runs")
    print(f"{'stage':<32} {'ms':>9} {'x baseline':>11}")
    print(f"{'baseline json.loads+dumps':<32} {baseline * 1000:>9.1f} {1.0:>11.1f}")
    for name, seconds in stages.items():
        print(f"{name:<32} {seconds * 1000:>9.1f} {seconds / baseline:>11.1f}")
    worst = max(v for k, v in stages.items() if k.endswith("(total)"))
    print(f"slowest full compile: {worst * 1000:.0f} ms for {n} nodes "
          f"({'within' if worst < 1.0 else 'OVER'} the 1 s budget)")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
