"""Same-run A/B of the engine's scheduler: this tree's ``Engine`` against another commit's.

The other commit's ``engine/engine.py`` and ``engine/plan.py`` are extracted with ``git show`` into a
temporary package (their imports of ``tierflow.engine.plan`` pointed at the copy; everything else,
executors included, is this tree's), so both engines run in one process. Rounds alternate,
in both orders (A B, B A, A B, ...) on the shapes of bench/bench_engine.py plus ``async8`` (eight async nodes side by
side, the Task path); the figure is the best round of each, and the ratio is new / old (below 1.10
means within 10 %).

    PYTHONPATH=src .venv/bin/python bench/ab_engine.py [--ref main] [--runs 300] [--rounds 25]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import EXPECTED, Runner, tierflow_shapes  # noqa: E402


def _old_engine(ref: str, into: Path) -> Any:
    """The Engine class of ``ref``, imported from a copy under ``into``."""
    package = into / "_ab_old_engine"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for name in ("engine.py", "plan.py"):
        text = subprocess.run(["git", "show", f"{ref}:src/tierflow/engine/{name}"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
        text = text.replace("tierflow.engine.plan", "_ab_old_engine.plan")
        (package / name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(into))
    return importlib.import_module("_ab_old_engine.engine").Engine


def _async_shape(engine_cls: Any) -> Runner:
    from tierflow.graph import END, PARENT, START, CodeNode, GraphNode

    async def inc(x: int) -> dict[str, int]:
        return {"x": x + 1}

    with GraphNode(name="async8") as graph:
        workers = [CodeNode(name=f"w{i}", code_fn=inc, inputs={"x": PARENT["x"]}) for i in range(8)]
        join = CodeNode(name="join", code_fn=lambda **kw: {"x": sum(kw.values())},
                        inputs={f"x{i}": w["x"] for i, w in enumerate(workers)}, outputs={"x": PARENT})
        START >> workers >> join >> END
    engine = engine_cls(graph)
    return lambda: engine.run({"x": 0})


async def _round(runner: Runner, runs: int) -> float:
    t0 = time.perf_counter()
    for _ in range(runs):
        await runner()
    return (time.perf_counter() - t0) / runs * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main", help="the commit to compare against (default: main)")
    ap.add_argument("--runs", type=int, default=300, help="runs per round")
    ap.add_argument("--rounds", type=int, default=25, help="rounds per engine (alternating)")
    args = ap.parse_args()
    from tierflow.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        old = _old_engine(args.ref, Path(tmp))
        sides = {"new": tierflow_shapes(), "old": tierflow_shapes(old)}
        sides["new"]["async8"] = _async_shape(Engine)
        sides["old"]["async8"] = _async_shape(old)
        expected = {**EXPECTED, "async8": 8}
        print(f"{'shape':<12} {'new us/run':>11} {'old us/run':>11} {'new/old':>8}")
        worst = 0.0
        for shape in sides["new"]:
            for side, shapes in sides.items():
                got = (await shapes[shape]())["x"]
                if got != expected[shape]:
                    raise SystemExit(f"{side} engine computed {got} on {shape}, expected {expected[shape]}")
            best = {"new": float("inf"), "old": float("inf")}
            for r in range(args.rounds):
                for side in (("new", "old") if r % 2 == 0 else ("old", "new")):
                    best[side] = min(best[side], await _round(sides[side][shape], args.runs))
            ratio = best["new"] / best["old"]
            worst = max(worst, ratio)
            print(f"{shape:<12} {best['new']:11.1f} {best['old']:11.1f} {ratio:8.3f}")
        print(f"worst new/old: {worst:.3f} ({'within' if worst < 1.10 else 'NOT within'} 10 % of {args.ref})")


if __name__ == "__main__":
    asyncio.run(main())
