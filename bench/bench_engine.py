"""Engine overhead per trivial node: tierflow vs LangGraph vs Haystack vs plain Python, one run.

Three shapes, each with trivial nodes (``x -> x + 1``) so only the engine's overhead is timed:
  chain10     a 10-node chain
  fanout8     one source, 8 parallel nodes, one join (10 nodes)
  branch_join a source, a branch, two 3-node arms, a merge of the arm taken (6 nodes run)

Per shape and library: microseconds per run (best of --repeat rounds of --runs runs) and the
overhead per node executed, net of the plain-Python baseline. Ratios are against tierflow in the
same process. Also: the wall time of 10,000 runs of the 10-node chain on tierflow.

    bash bench/setup_env.sh && .bench-venv/bin/python bench/bench_engine.py [--runs N] [--pin]
"""


import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Runner = Callable[[], Any]  # one run; may return an awaitable (timed inside one event loop)

NODES_RUN = {"chain10": 10, "fanout8": 10, "branch_join": 6}
EXPECTED = {"chain10": 10, "fanout8": 17, "branch_join": 5}  # every library must compute these


# --- plain Python -------------------------------------------------------------------------------

def _inc(x: int) -> int:
    return x + 1


def plain_shapes() -> dict[str, Runner]:
    def chain() -> int:
        x = 0
        for _ in range(10):
            x = _inc(x)
        return x

    def fanout() -> int:
        x = _inc(0)
        return sum(_inc(x) for _ in range(8)) + 1

    def branch() -> int:
        x = _inc(0)
        if x > 0:
            x = _inc(_inc(_inc(x)))
        else:
            x = _inc(_inc(_inc(-x)))
        return _inc(x)
    return {"chain10": chain, "fanout8": fanout, "branch_join": branch}


# --- tierflow -----------------------------------------------------------------------------------

def tierflow_shapes(engine_cls: Any = None) -> dict[str, Runner]:
    """The three shapes on tierflow (``engine_cls``: another Engine class, for bench/ab_engine.py)."""
    from tierflow.engine import Engine
    from tierflow.graph import END, PARENT, START, Branch, CodeNode, GraphNode

    def inc(x: int) -> dict[str, int]:
        return {"x": x + 1}

    with GraphNode(name="chain10") as chain:
        prev: Any = START
        last = None
        for i in range(10):
            node = CodeNode(name=f"n{i}", code_fn=inc, inputs={"x": PARENT["x"] if last is None else last["x"]})
            prev = prev >> node
            last = node
        last["x"] >> PARENT["x"]
        prev >> END

    with GraphNode(name="fanout8") as fan:
        src = CodeNode(name="src", code_fn=inc, inputs={"x": PARENT["x"]})
        workers = [CodeNode(name=f"w{i}", code_fn=inc, inputs={"x": src["x"]}) for i in range(8)]
        join = CodeNode(name="join", code_fn=lambda **kw: {"x": sum(kw.values()) + 1},
                        inputs={f"x{i}": w["x"] for i, w in enumerate(workers)}, outputs={"x": PARENT})
        START >> src >> workers >> join >> END

    with GraphNode(name="branch_join") as br:
        src = CodeNode(name="src", code_fn=inc, inputs={"x": PARENT["x"]})
        router = Branch("router").if_(src["x"] > 0, "a0").otherwise("b0")
        arms = {}
        for arm in ("a", "b"):
            prev, last = router, src
            for i in range(3):
                node = CodeNode(name=f"{arm}{i}", code_fn=inc, inputs={"x": last["x"]})
                prev = prev >> node
                last = node
            arms[arm] = last
        merge = CodeNode(name="merge", code_fn=lambda a=None, b=None: {"x": (a if a is not None else b) + 1},
                         inputs={"a": arms["a"]["x"], "b": arms["b"]["x"]}, outputs={"x": PARENT})
        START >> src >> router
        [arms["a"], arms["b"]] >> ~merge
        merge >> END

    make = engine_cls or Engine
    engines = {name: make(g) for name, g in (("chain10", chain), ("fanout8", fan), ("branch_join", br))}
    return {name: (lambda e=e: e.run({"x": 0})) for name, e in engines.items()}


# --- LangGraph ----------------------------------------------------------------------------------

def langgraph_shapes() -> dict[str, Runner]:
    import operator
    from typing import Annotated, TypedDict

    from langgraph.graph import END, START, StateGraph

    class S(TypedDict):
        x: int

    class F(TypedDict):
        x: int
        parts: Annotated[list, operator.add]

    def inc(state: S) -> dict[str, int]:
        return {"x": state["x"] + 1}

    g = StateGraph(S)
    for i in range(10):
        g.add_node(f"n{i}", inc)
        g.add_edge(START if i == 0 else f"n{i - 1}", f"n{i}")
    g.add_edge("n9", END)
    chain = g.compile()

    f = StateGraph(F)
    f.add_node("src", inc)
    f.add_edge(START, "src")
    for i in range(8):
        f.add_node(f"w{i}", lambda s: {"parts": [s["x"] + 1]})
        f.add_edge("src", f"w{i}")
    f.add_node("join", lambda s: {"x": sum(s["parts"]) + 1})
    f.add_edge([f"w{i}" for i in range(8)], "join")
    f.add_edge("join", END)
    fan = f.compile()

    b = StateGraph(S)
    b.add_node("src", inc)
    b.add_edge(START, "src")
    for arm in ("a", "b"):
        for i in range(3):
            b.add_node(f"{arm}{i}", inc)
            if i:
                b.add_edge(f"{arm}{i - 1}", f"{arm}{i}")
        b.add_edge(f"{arm}2", "merge")
    b.add_conditional_edges("src", lambda s: "a0" if s["x"] > 0 else "b0", ["a0", "b0"])
    b.add_node("merge", inc)
    b.add_edge("merge", END)
    branch = b.compile()
    return {"chain10": lambda: chain.invoke({"x": 0}),
            "fanout8": lambda: fan.invoke({"x": 0, "parts": []}),
            "branch_join": lambda: branch.invoke({"x": 0})}


# --- Haystack -----------------------------------------------------------------------------------

def haystack_shapes() -> dict[str, Runner]:
    from haystack import Pipeline, component
    from haystack.core.component.types import Variadic

    @component
    class Inc:
        @component.output_types(x=int)
        def run(self, x: int) -> dict[str, int]:
            return {"x": x + 1}

    @component
    class Join8:
        @component.output_types(x=int)
        def run(self, x0: int, x1: int, x2: int, x3: int, x4: int, x5: int, x6: int, x7: int) -> dict[str, int]:
            return {"x": x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + 1}

    @component
    class Route:
        @component.output_types(a=int, b=int)
        def run(self, x: int) -> dict[str, int]:
            return {"a": x + 1} if x > 0 else {"b": x + 1}

    @component
    class Merge:
        @component.output_types(x=int)
        def run(self, x: Variadic[int]) -> dict[str, int]:
            return {"x": next(iter(x)) + 1}

    chain = Pipeline()
    for i in range(10):
        chain.add_component(f"n{i}", Inc())
        if i:
            chain.connect(f"n{i - 1}.x", f"n{i}.x")

    fan = Pipeline()
    fan.add_component("src", Inc())
    fan.add_component("join", Join8())
    for i in range(8):
        fan.add_component(f"w{i}", Inc())
        fan.connect("src.x", f"w{i}.x")
        fan.connect(f"w{i}.x", f"join.x{i}")

    br = Pipeline()
    br.add_component("src", Route())
    for arm in ("a", "b"):
        for i in range(3):
            br.add_component(f"{arm}{i}", Inc())
        br.connect(f"src.{arm}", f"{arm}0.x")
        br.connect(f"{arm}0.x", f"{arm}1.x")
        br.connect(f"{arm}1.x", f"{arm}2.x")
    br.add_component("merge", Merge())
    br.connect("a2.x", "merge.x")
    br.connect("b2.x", "merge.x")
    return {"chain10": lambda: chain.run({"n0": {"x": 0}}),
            "fanout8": lambda: fan.run({"src": {"x": 0}}),
            "branch_join": lambda: br.run({"src": {"x": 0}})}


# --- timing -------------------------------------------------------------------------------------

async def _time(runner: Runner, runs: int, repeat: int) -> float:
    """Best-of-``repeat`` microseconds per run; awaitables are awaited in this loop."""
    first = runner()
    is_async = asyncio.iscoroutine(first)
    if is_async:
        await first
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        if is_async:
            for _ in range(runs):
                await runner()
        else:
            for _ in range(runs):
                runner()
        best = min(best, time.perf_counter() - t0)
    return best / runs * 1e6


async def _value(runner: Runner) -> int:
    """The x a run computes, whatever the library's result shape."""
    out = runner()
    if asyncio.iscoroutine(out):
        out = await out
    if isinstance(out, int):
        return out
    if "x" in out:
        return out["x"]
    (last,) = out.values()  # Haystack: outputs of the last component
    return last["x"]


def _load(name: str, factory: Callable[[], dict[str, Runner]]) -> dict[str, Runner] | None:
    try:
        return factory()
    except ImportError as exc:
        print(f"# {name}: not installed ({exc.name}); run bench/setup_env.sh", file=sys.stderr)
        return None


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000, help="runs per timing round (tierflow/plain x5)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pin", action="store_true", help="pin the process to one CPU core")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    libs = {"plain": plain_shapes(), "tierflow": tierflow_shapes(),
            "langgraph": _load("langgraph", langgraph_shapes), "haystack": _load("haystack", haystack_shapes)}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for shape, nodes in NODES_RUN.items():
        row: dict[str, dict[str, float]] = {}
        for lib, shapes in libs.items():
            if shapes is None:
                continue
            got = await _value(shapes[shape])
            if got != EXPECTED[shape]:
                raise SystemExit(f"{lib} computed {got} on {shape}, expected {EXPECTED[shape]}")
            runs = args.runs * 5 if lib in ("plain", "tierflow") else args.runs
            us = await _time(shapes[shape], runs, args.repeat)
            row[lib] = {"us_per_run": us}
        base = row["plain"]["us_per_run"]
        for r in row.values():
            r["us_per_node"] = max(r["us_per_run"] - base, 0.0) / nodes
        table[shape] = row

    engine = tierflow_shapes()["chain10"]
    t0 = time.perf_counter()
    for _ in range(10_000):
        await engine()
    chain_10k = time.perf_counter() - t0

    print(f"{'shape':<12} {'library':<10} {'us/run':>9} {'us/node':>9} {'vs tierflow':>12}")
    for shape, row in table.items():
        tf = row["tierflow"]["us_per_node"] or 1e-9
        for lib, r in row.items():
            ratio = "" if lib in ("plain", "tierflow") else f"{r['us_per_node'] / tf:10.1f}x"
            print(f"{shape:<12} {lib:<10} {r['us_per_run']:9.1f} {r['us_per_node']:9.2f} {ratio:>12}")
    print(f"tierflow: 10,000 runs of the 10-node chain in {chain_10k:.3f} s "
          f"({chain_10k / 10_000 * 1e6:.1f} us per run)")
    if args.json:
        report = {"shapes": table, "chain10_10k_runs_s": chain_10k, "python": sys.version}
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
