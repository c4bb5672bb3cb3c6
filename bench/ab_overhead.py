"""Same-run A/B: the engine's and the call layer's overhead at a base commit vs this working tree.

    PYTHONPATH=src .venv/bin/python bench/ab_overhead.py [--base main] [--rounds 7] [--json F]

The base commit's ``src/`` is exported to a temporary folder (``git archive``); then, round after
round in alternating order, one child process per side times the shapes of
``bench/bench_engine.py`` (tierflow only: CPU µs per run, best of 5) and sequential chat calls of
``bench/bench_calls.py`` against the loopback test server (CPU ms per call, median of batches).
The best round of the engine figures and the median round of the call figures, and the ratios
head/base, are printed; ``--max-ratio`` (default 1.05) makes the
script exit non-zero when any untraced figure is slower than that. The head side also times runs
and calls with a no-op tracer (what tracing itself costs; docs/tracing.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


# --- the children -------------------------------------------------------------------------------

def _noop_tracer() -> Any:
    from tierflow.tracing import Tracer

    return Tracer()


async def _best_cpu_us(runner: Any, runs: int, repeat: int) -> float:
    """Best-of-``repeat`` CPU microseconds per run (process time: other processes' load adds less)."""
    await runner()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(runs):
            await runner()
        best = min(best, time.process_time() - t0)
    return best / runs * 1e6


async def _child_engine(runs: int, traced: bool) -> dict[str, float]:
    sys.path.insert(0, str(BENCH))
    from bench_engine import tierflow_shapes

    shapes = tierflow_shapes()
    if traced:
        tracer = _noop_tracer()
        engines = {name: fn.__defaults__[0] for name, fn in shapes.items()}  # type: ignore[attr-defined]
        shapes = {name: (lambda e=e: e.run({"x": 0}, tracer=tracer)) for name, e in engines.items()}
    return {name: await _best_cpu_us(fn, runs, 5) for name, fn in shapes.items()}


async def _child_calls(url: str, batches: int, calls: int, traced: bool) -> dict[str, float]:
    sys.path.insert(0, str(BENCH))
    from bench_calls import MESSAGES, _tierflow_client, batch

    client = _tierflow_client(url)
    if traced:
        client.add_observer(_noop_tracer())
    try:
        async def one() -> str:
            return (await client.acall("primary", MESSAGES)).text

        await batch(one, max(10, calls // 5), 1)
        samples = [await batch(one, calls, 1) for _ in range(batches)]
    finally:
        await client.aclose()
    return {"calls_cpu_ms": statistics.median(s[1] for s in samples) * 1e3,
            "calls_wall_ms": statistics.median(s[0] for s in samples) * 1e3}


# --- the parent ---------------------------------------------------------------------------------

def _export(ref: str, dest: Path) -> Path:
    """``ref``'s ``src/`` under ``dest`` (``git archive``; nothing in the repository changes)."""
    dest.mkdir(parents=True)
    archive = dest / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def _run_child(src: Path, args: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--child", *args], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tierflow.testing", "--port", "0", "--no-record"],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    return proc, line.split("listening on", 1)[1].strip().split()[0]


def _measure(sides: dict[str, tuple[Path, bool]], rounds: int, url: str, runs: int, batches: int,
             calls: int) -> dict[str, dict[str, float]]:
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order every round
            src, traced = sides[name]
            flag = ["--traced"] if traced else []
            got = _run_child(src, ["engine", "--runs", str(runs), *flag])
            got |= _run_child(src, ["calls", "--url", url, "--batches", str(batches), "--calls", str(calls), *flag])
            for key, value in got.items():
                samples[name].setdefault(key, []).append(value)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    # engine figures: the best round (noise only ever adds); call figures: the median round
    return {name: {k: (statistics.median(v) if k.startswith("calls") else min(v)) for k, v in by.items()}
            for name, by in samples.items()}


def _report(figures: dict[str, dict[str, float]], max_ratio: float) -> bool:
    base, head = figures["base"], figures["head"]
    ok = True
    print(f"{'figure':<16} {'base':>9} {'head':>9} {'head/base':>10} {'traced':>9} {'traced/head':>12}")
    for key in base:
        ratio = head[key] / base[key]
        traced = figures.get("head+tracer", {}).get(key)
        extra = "" if traced is None else f"{traced:9.2f} {traced / head[key]:11.3f}x"
        flag = "" if ratio <= max_ratio else "  <-- over"
        ok = ok and ratio <= max_ratio
        unit = "ms" if key.startswith("calls") else "us"
        print(f"{key + ' ' + unit:<16} {base[key]:9.2f} {head[key]:9.2f} {ratio:9.3f}x {extra}{flag}")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="main", help="the commit to compare with (default: main)")
    ap.add_argument("--head", help="a commit to measure instead of this working tree (e.g. HEAD)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=2000, help="engine runs per timing")
    ap.add_argument("--batches", type=int, default=7)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--max-ratio", type=float, default=1.05)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    proc, url = _server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base_src = _export(args.base, Path(tmp) / "base")
            head_src = ROOT / "src" if args.head is None else _export(args.head, Path(tmp) / "head")
            sides = {"base": (base_src, False), "head": (head_src, False), "head+tracer": (head_src, True)}
            figures = _measure(sides, args.rounds, url, args.runs, args.batches, args.calls)
    finally:
        proc.terminate()
        proc.wait(10)
    ok = _report(figures, args.max_ratio)
    if args.json:
        Path(args.json).write_text(json.dumps({"base": args.base, "figures": figures}, indent=2), encoding="utf-8")
    sys.exit(0 if ok else 1)


def _child_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["engine", "calls"])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--url")
    ap.add_argument("--batches", type=int, default=7)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--traced", action="store_true")
    a = ap.parse_args(argv)
    if a.what == "engine":
        out = asyncio.run(_child_engine(a.runs, a.traced))
    else:
        out = asyncio.run(_child_calls(a.url, a.batches, a.calls, a.traced))
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_main(sys.argv[2:])
    else:
        main()
