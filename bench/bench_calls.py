"""Call-layer overhead and outage behaviour: tierflow vs raw aiohttp / httpx vs litellm.

    bash bench/setup_env.sh && .bench-venv/bin/python bench/bench_calls.py [--batches 15] [--calls 100]

The project's test server runs in a separate process on 127.0.0.1 (``python -m tierflow.testing``).
This process is the client. For each client and each mode (sequential, and ``--concurrency``
calls in flight) it runs ``--batches`` batches of ``--calls`` chat completions after a warm-up,
interleaving the clients batch by batch (in a rotating order) so drift hits them alike, and
reports per call: client CPU (``time.process_time`` of this process, all threads, including work
a client leaves running after its calls: see :func:`settle`) and wall time, median and p99 over
the batches, and the ratios to raw aiohttp (the floor: one POST and ``resp.json()``) and litellm.

Outage case: the primary model answers 500 and a healthy fallback exists. tierflow uses its
defaults (2 retries with 0.5 s doubling backoff; the breaker opens after 3 failures of a target
that fails every request and skips it for 30 s); litellm's
``Router`` its defaults with ``fallbacks=[{primary: [fallback]}]``. Per call: upstream requests
(counted by the server) and latency above a healthy call.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm: no price-map download
KEY = "sk-bench-0000"
MESSAGES = [{"role": "user", "content": "Say something short about benchmarks."}]

CallFn = Callable[[], Awaitable[str]]


# --- the server process ------------------------------------------------------------------------


class ServerProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tierflow.testing", "--port", "0", "--no-record"],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "listening on" not in line:
            self.proc.kill()
            raise SystemExit(f"the test server did not start: {line!r}")
        self.url = line.strip().rsplit(" ", 1)[-1]

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def count(self, model: str) -> int:
        return int(self.control(f"/_control/count?model={model}")["count"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --- the clients -------------------------------------------------------------------------------


async def make_aiohttp(url: str) -> tuple[CallFn, Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    endpoint = url + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}"}

    async def call() -> str:
        async with session.post(endpoint, json={"model": "bench", "messages": MESSAGES}, headers=headers) as r:
            r.raise_for_status()
            return (await r.json())["choices"][0]["message"]["content"]

    return call, session.close


async def make_httpx(url: str) -> tuple[CallFn, Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=100), timeout=60)
    endpoint = url + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {KEY}"}

    async def call() -> str:
        r = await client.post(endpoint, json={"model": "bench", "messages": MESSAGES}, headers=headers)
        r.raise_for_status()
        return r.json()["choices"][0]["message"]["content"]

    return call, client.aclose


def _tierflow_client(url: str, extra_models: str = "") -> Any:
    from tierflow.calls import Client
    from tierflow.config import parse_config

    return Client(parse_config(f"""
providers:
  srv: {{kind: openai, base_url: "{url}/v1", api_key: "{KEY}"}}
models:
  - {{role: primary, ref: srv, model: bench}}
{extra_models}
prices: {{"srv/*": {{input_per_mtok: 1, output_per_mtok: 2}}}}
""", source="bench"))


async def make_tierflow(url: str) -> tuple[CallFn, Callable[[], Awaitable[None]]]:
    client = _tierflow_client(url)

    async def call() -> str:
        return (await client.acall("primary", MESSAGES)).text

    return call, client.aclose


async def make_tierflow_observed(url: str) -> tuple[CallFn, Callable[[], Awaitable[None]]]:
    """tierflow with one observer registered (a no-op): what building and giving out call events costs."""
    client = _tierflow_client(url)
    client.add_observer(lambda event: None)

    async def call() -> str:
        return (await client.acall("primary", MESSAGES)).text

    return call, client.aclose


async def make_litellm(url: str) -> tuple[CallFn, Callable[[], Awaitable[None]]]:
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True

    async def call() -> str:
        r = await litellm.acompletion(model="openai/bench", messages=MESSAGES, api_base=url + "/v1", api_key=KEY)
        return r.choices[0].message.content

    async def close() -> None:
        return None

    return call, close


CLIENTS: dict[str, Callable[[str], Awaitable[tuple[CallFn, Callable[[], Awaitable[None]]]]]] = {
    "raw aiohttp": make_aiohttp, "raw httpx": make_httpx, "tierflow": make_tierflow,
    "tierflow + observer": make_tierflow_observed, "litellm": make_litellm,
}


# --- measuring ---------------------------------------------------------------------------------


async def settle(window_s: float = 0.02, idle_cpu_s: float = 0.0005, limit_s: float = 5.0) -> None:
    """Return once this process is idle: a ``window_s`` sleep that costs under ``idle_cpu_s`` CPU.

    Clients may defer work past the last awaited call (litellm runs logging callbacks as tasks
    and in executor threads). That work is the client's CPU: without this wait it would be
    billed to whichever client is measured next.
    """
    end = time.perf_counter() + limit_s
    while time.perf_counter() < end:
        cpu0 = time.process_time()
        await asyncio.sleep(window_s)
        if time.process_time() - cpu0 < idle_cpu_s:
            return


async def batch(call: CallFn, n: int, concurrency: int) -> tuple[float, float]:
    """Run ``n`` calls (``concurrency`` in flight); return (wall s, CPU s) per call.

    Wall time covers the calls; CPU (every thread of this process) also covers the work the
    client left running after them, up to the moment the process is idle again.
    """
    await settle()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if concurrency <= 1:
        for _ in range(n):
            await call()
    else:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                await call()

        await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - wall0
    await settle()
    return wall / n, (time.process_time() - cpu0) / n


def _p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))]


async def overhead(url: str, names: list[str], batches: int, calls: int, concurrency: int,
                   gc_freeze: bool = False) -> dict[str, Any]:
    made = {name: await CLIENTS[name](url) for name in names}
    if gc_freeze:  # every full collection would otherwise rescan all four libraries' import-time objects
        gc.collect()
        gc.freeze()
    out: dict[str, Any] = {}
    for mode, conc in (("sequential", 1), (f"{concurrency} in flight", concurrency)):
        samples: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        for name in names:  # warm-up: connections, imports, caches
            await batch(made[name][0], max(10, calls // 5), conc)
        for i in range(batches):
            for name in names[i % len(names):] + names[:i % len(names)]:  # rotate: no client always follows another
                samples[name].append(await batch(made[name][0], calls, conc))
        rows = {}
        for name in names:
            walls = [s[0] for s in samples[name]]
            cpus = [s[1] for s in samples[name]]
            rows[name] = {"wall_ms_median": statistics.median(walls) * 1e3, "wall_ms_p99": _p99(walls) * 1e3,
                          "cpu_ms_median": statistics.median(cpus) * 1e3, "cpu_ms_p99": _p99(cpus) * 1e3}
        base = rows.get("raw aiohttp")
        for row in rows.values():
            if base:
                row["cpu_vs_aiohttp"] = row["cpu_ms_median"] / base["cpu_ms_median"]
                row["wall_vs_aiohttp"] = row["wall_ms_median"] / base["wall_ms_median"]
        out[mode] = rows
    for _, close in made.values():
        await close()
    return out


async def outage_tierflow(srv: ServerProcess, calls: int) -> list[dict[str, Any]]:
    srv.control("/_control/default", {"model": "dead", "behaviour": {"kind": "status", "code": 500}})
    client = _tierflow_client(srv.url,
                              "  - {role: outage, ref: srv, model: dead, fallback: [{ref: srv, model: healthy}]}")
    await client.acall("srv/healthy", MESSAGES)  # connection warm-up (no outage involved)
    healthy = []
    for _ in range(5):
        t0 = time.perf_counter()
        await client.acall("srv/healthy", MESSAGES)
        healthy.append(time.perf_counter() - t0)
    base = statistics.median(healthy)
    rows = []
    for i in range(calls):
        d0, h0 = srv.count("dead"), srv.count("healthy")
        t0 = time.perf_counter()
        result = await client.acall("outage", MESSAGES)
        dt = time.perf_counter() - t0
        rows.append({"call": i + 1, "upstream_requests": srv.count("dead") - d0 + srv.count("healthy") - h0,
                     "to_dead": srv.count("dead") - d0, "added_s": dt - base, "answered_by": result.model_used,
                     "attempts": [a.outcome for a in result.attempts]})
    await client.aclose()
    return rows


async def outage_litellm(srv: ServerProcess, calls: int) -> list[dict[str, Any]]:
    import litellm
    from litellm import Router

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    params = {"api_base": srv.url + "/v1", "api_key": KEY}
    router = Router(model_list=[{"model_name": "primary", "litellm_params": {"model": "openai/ldead", **params}},
                                {"model_name": "fallback", "litellm_params": {"model": "openai/lhealthy", **params}}],
                    fallbacks=[{"primary": ["fallback"]}])
    srv.control("/_control/default", {"model": "ldead", "behaviour": {"kind": "status", "code": 500}})
    await router.acompletion(model="fallback", messages=MESSAGES)
    healthy = []
    for _ in range(5):
        t0 = time.perf_counter()
        await router.acompletion(model="fallback", messages=MESSAGES)
        healthy.append(time.perf_counter() - t0)
    base = statistics.median(healthy)
    rows = []
    for i in range(calls):
        d0, h0 = srv.count("ldead"), srv.count("lhealthy")
        t0 = time.perf_counter()
        await router.acompletion(model="primary", messages=MESSAGES)
        dt = time.perf_counter() - t0
        rows.append({"call": i + 1, "upstream_requests": srv.count("ldead") - d0 + srv.count("lhealthy") - h0,
                     "to_dead": srv.count("ldead") - d0, "added_s": dt - base})
    return rows


def _print_overhead(results: dict[str, Any]) -> None:
    for mode, rows in results.items():
        print(f"\n## {mode}: per call (median / p99 over batches)")
        print("| client | CPU ms | CPU p99 | wall ms | wall p99 | CPU vs aiohttp | wall vs aiohttp |")
        print("|---|---|---|---|---|---|---|")
        for name, r in rows.items():
            print(f"| {name} | {r['cpu_ms_median']:.3f} | {r['cpu_ms_p99']:.3f} | {r['wall_ms_median']:.3f} | "
                  f"{r['wall_ms_p99']:.3f} | {r.get('cpu_vs_aiohttp', float('nan')):.2f}x | "
                  f"{r.get('wall_vs_aiohttp', float('nan')):.2f}x |")
        cpu = {name: r["cpu_ms_median"] for name, r in rows.items()}
        if "tierflow" in cpu and "raw aiohttp" in cpu:
            ratio = cpu["tierflow"] / cpu["raw aiohttp"]
            verdict = "met" if ratio <= 1.2 else "MISSED"
            print(f"goal: tierflow CPU within 1.2x of raw aiohttp: {ratio:.2f}x ({verdict})")
        if "tierflow" in cpu and "tierflow + observer" in cpu:
            print(f"call events: tierflow with a no-op observer / without one = "
                  f"{cpu['tierflow + observer'] / cpu['tierflow']:.2f}x CPU (none registered: no event is built)")
        if "tierflow" in cpu and "litellm" in cpu:
            ratio = cpu["litellm"] / cpu["tierflow"]
            print(f"goal: tierflow CPU 10x below litellm: litellm / tierflow = {ratio:.1f}x "
                  f"({'met' if ratio >= 10 else 'MISSED'})" + (
                      f"; litellm / raw aiohttp (the most any client could reach) = "
                      f"{cpu['litellm'] / cpu['raw aiohttp']:.1f}x" if "raw aiohttp" in cpu else ""))


def _print_outage(name: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n## outage ({name}): primary answers 500, healthy fallback")
    print("| call | upstream requests | to the dead primary | added latency s |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['call']} | {r['upstream_requests']} | {r['to_dead']} | {r['added_s']:.3f} |")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    srv = ServerProcess()
    report: dict[str, Any] = {"server": srv.url}
    try:
        names = [n for n in CLIENTS if not (args.skip_litellm and n == "litellm") and (not args.only or n in args.only)]
        for name in list(names):
            try:
                __import__({"raw aiohttp": "aiohttp", "raw httpx": "httpx", "tierflow": "tierflow",
                            "tierflow + observer": "tierflow", "litellm": "litellm"}[name])
            except ImportError:
                print(f"(skipping {name}: not installed here; run bash bench/setup_env.sh)", file=sys.stderr)
                names.remove(name)
        report["overhead"] = await overhead(srv.url, names, args.batches, args.calls, args.concurrency,
                                            args.gc_freeze)
        _print_overhead(report["overhead"])
        if args.skip_outage:
            return report
        report["outage_tierflow"] = await outage_tierflow(srv, args.outage_calls)
        _print_outage("tierflow, defaults", report["outage_tierflow"])
        if "litellm" in names:
            report["outage_litellm"] = await outage_litellm(srv, min(args.outage_calls, args.litellm_outage_calls))
            _print_outage("litellm Router, defaults", report["outage_litellm"])
    finally:
        srv.stop()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--calls", type=int, default=100, help="calls per batch")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--outage-calls", type=int, default=6)
    parser.add_argument("--litellm-outage-calls", type=int, default=3)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--only", nargs="+", choices=sorted(CLIENTS), help="measure only these clients")
    parser.add_argument("--skip-outage", action="store_true")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after set-up: each client's garbage collections then scan its own "
                             "objects, not the import-time heap of every library loaded in this process")
    parser.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if args.json_out:
        from tierflow._files import atomic_write

        atomic_write(args.json_out, json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
