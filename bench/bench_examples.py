"""How long each seed-004 example takes on the local models, and where the time goes.

    .venv/bin/python bench/bench_examples.py [--examples cascading ...] [--repeat 1] [--no-caps]
                                             [--threads N]

Runs the five examples of ``examples/`` (cascading, task_routing, ensemble, fallback,
quality_gate) with their own queries on ``examples/tierflow.yaml`` (local GGUF models on the CPU;
``tierflow models pull --all`` installs them) and prints, per example, the wall time of
``main()`` (goal: under 60 s on a 2-core machine), the model calls it made, their prompt and
output tokens and the slowest call with its finish reason. Baseline, in the same run and on the
same loaded weights: each model's load time, its time for a one-token answer (fixed cost per call)
and its decode speed on 64 tokens; the ``est`` column is what the example's calls should take at
those speeds, and ``ratio`` = wall / est shows what the engine and the call layer add (1.00:
nothing) or what the baseline cannot explain (prompt processing of long prompts).

``--no-caps`` runs the examples with every LLM node's ``max_tokens`` removed, so the provider's
default output cap and repetition stop alone bound each answer (what a user who writes the seed's
code as is gets). ``--threads N`` sets the local provider's ``n_threads`` (default: the config's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("cascading", "task_routing", "ensemble", "fallback", "quality_gate")
CONFIG = ROOT / "examples" / "tierflow.yaml"


def _load(name: str) -> ModuleType:
    folder = ROOT / "examples"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"tierflow_example_{name}", folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _baseline(client: Any, roles: list[str]) -> dict[str, dict[str, float]]:
    """Per model: load + first call, a one-token call, and decode tokens per second."""
    out: dict[str, dict[str, float]] = {}
    for role in roles:
        model = client.registry.get(role).model
        if model in out:
            continue
        t0 = time.perf_counter()
        await client.acall(role, "Hi", max_tokens=1, temperature=0.0)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        await client.acall(role, "Hi", max_tokens=1, temperature=0.0)
        one = time.perf_counter() - t0
        r = await client.acall(role, "Write a short story about a lighthouse keeper.", max_tokens=64,
                               temperature=0.0)
        decode = max(r.usage.output_tokens - 1, 1) / max(r.latency_s - one, 1e-6)
        out[model] = {"load_s": load, "one_token_s": one, "decode_tps": decode}
    return out


def _calls(result: Any) -> list[tuple[str, Any]]:
    out = []
    for node, value in result.node_outputs.items():
        call = value.get("call") if isinstance(value, dict) else None
        if call is not None:
            out.append((node, call))
    return out


def _estimate(calls: list[tuple[str, Any]], base: dict[str, dict[str, float]]) -> float:
    est = 0.0
    for _, c in calls:
        model = c.model_used.split("/", 1)[1]
        b = base.get(model)
        if b is not None:
            est += b["one_token_s"] + max(c.usage.output_tokens - 1, 0) / b["decode_tps"]
    return est


def _strip_caps(module: ModuleType) -> None:
    """Drop ``max_tokens`` from every LLM node of the example's (built, cached) IR."""
    for node in module.graph.to_ir().nodes:
        if node.kind == "llm":
            node.config.pop("max_tokens", None)


async def _run(names: list[str], repeat: int, no_caps: bool, threads: int | None) -> int:
    from tierflow.calls import Client
    from tierflow.config import load_config

    modules = {n: _load(n) for n in names}
    if no_caps:
        for m in modules.values():
            _strip_caps(m)
    config = load_config(CONFIG)
    if threads is not None:
        local = config.providers["local"]
        config.providers["local"] = local.model_copy(update={"options": {**local.options, "n_threads": threads}})
    print(f"local provider options: {config.providers['local'].options or '{}'}; examples' own max_tokens "
          f"{'removed' if no_caps else 'kept'}")
    async with Client(config) as client:
        roles = [e.role for e in client.registry if e.ref == "local"]
        base = await _baseline(client, roles)
        print("baseline (same run, same loaded weights):")
        for model, b in base.items():
            print(f"  {model:30} load+first {b['load_s']:6.2f} s   one-token call {b['one_token_s']:5.2f} s   "
                  f"decode {b['decode_tps']:5.1f} tok/s")
        print(f"\n{'example':13} {'wall s':>7} {'est s':>6} {'ratio':>5} {'calls':>5} {'in tok':>6} {'out tok':>7}  "
              "slowest call")
        worst = 0.0
        for name, module in modules.items():
            walls = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    results = await module.main(client=client)
                walls.append(time.perf_counter() - t0)
            calls = [c for r in results for c in _calls(r)]
            wall = statistics.median(walls)
            worst = max(worst, wall)
            est = _estimate(calls, base)
            slow_node, slow = max(calls, key=lambda nc: nc[1].latency_s)
            tin = sum(c.usage.input_tokens for _, c in calls)
            tout = sum(c.usage.output_tokens for _, c in calls)
            print(f"{name:13} {wall:7.1f} {est:6.1f} {wall / est if est else float('nan'):5.2f} {len(calls):5d} "
                  f"{tin:6d} {tout:7d}  "
                  f"{slow_node} {slow.latency_s:.1f} s, {slow.model_used}, {slow.usage.input_tokens} in / "
                  f"{slow.usage.output_tokens} out, finish {slow.finish_reason}")
    print(f"\nslowest example: {worst:.1f} s (goal: under 60 s each)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", nargs="*", choices=EXAMPLES, default=list(EXAMPLES))
    ap.add_argument("--repeat", type=int, default=1, help="runs per example (the median is shown)")
    ap.add_argument("--no-caps", action="store_true", help="drop the examples' own max_tokens")
    ap.add_argument("--threads", type=int, default=None, help="the local provider's n_threads")
    args = ap.parse_args()
    from tierflow.local_models import installed_models

    have = {m.name for m in installed_models()}
    need = {"smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"}
    if not need <= have:
        print(f"missing local models {sorted(need - have)}: run `tierflow models pull --all`", file=sys.stderr)
        return 1
    return asyncio.run(_run(args.examples, args.repeat, args.no_caps, args.threads))


if __name__ == "__main__":
    sys.exit(main())
