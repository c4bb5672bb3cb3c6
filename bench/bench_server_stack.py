"""Which HTTP server stack for ``tierflow serve``: aiohttp.web against Starlette on uvicorn / granian.

    apt-get install wrk   # the load generator (Debian's package)
    bash bench/setup_env.sh && .bench-venv/bin/python bench/bench_server_stack.py [--duration 3] [--rounds 3]

Every stack runs the same minimal gateway (``bench/_stack_apps.py``) in its own process, one
worker: an OpenAI-style JSON endpoint answered locally, and an SSE endpoint relaying the answer of
an upstream on 127.0.0.1 (the project's test server, ``python -m tierflow.testing``, in a third
process) chunk by chunk through aiohttp's client. ``wrk`` (a fourth process) drives each with 1
and with 64 requests in flight. Per stack and endpoint: the server process's CPU per request (user
+ system, its whole process tree, from /proc), p50 / p99 latency and requests/s, the median of
``--rounds`` rounds run in a rotating order (so drift on a shared machine hits every stack alike),
and the ratios to aiohttp.web on asyncio, measured in the same run. Stacks whose packages are
missing are listed and skipped. The figures are recorded in docs/gateway.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STACKS = {  # name -> (what it is, the modules it needs)
    "aiohttp": ("aiohttp.web, asyncio loop (the baseline)", ["aiohttp"]),
    "aiohttp+uvloop": ("aiohttp.web on uvloop", ["aiohttp", "uvloop"]),
    "uvicorn": ("Starlette on uvicorn (uvloop + httptools)", ["starlette", "uvicorn", "uvloop", "httptools"]),
    "uvicorn-h11": ("Starlette on uvicorn (asyncio + h11)", ["starlette", "uvicorn", "h11"]),
    "granian": ("Starlette on granian (ASGI, Rust HTTP)", ["starlette", "granian"]),
}
ENDPOINTS = {"json": "/v1/chat/completions", "sse": "/v1/stream"}
ANSWER = " ".join(f"word{i}" for i in range(16))  # the upstream streams it as 16 content chunks
BODY = json.dumps({"model": "bench", "stream": True, "stream_options": {"include_usage": True},
                   "messages": [{"role": "user", "content": "Say something short about benchmarks."}]})
_CLK = os.sysconf("SC_CLK_TCK")


def _missing(modules: list[str]) -> list[str]:
    import importlib.util
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], limit_s: float = 30.0) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url}: no answer within {limit_s:g}s")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (granian runs its worker in a child process)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` (every thread), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _CLK


class Server:
    """One stack in its own process."""

    def __init__(self, stack: str, upstream: str) -> None:
        self.stack = stack
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(HERE / "_stack_apps.py"), stack, str(self.port), upstream])
        _wait_http(self.url + "/health", self.proc)
        self.pids = _tree(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def run_wrk(url: str, conc: int, duration: float, script: str) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{conc}", f"-d{duration:g}s", "--timeout", "10s", "--latency",
                          "-s", script, url], capture_output=True, text=True, check=True).stdout
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"{url}: error answers under load:\n{out}")
    sock = re.search(r"Socket errors: (.*)", out)  # timeouts, resets: counted and shown
    errors = sum(int(n) for n in re.findall(r"\d+", sock.group(1))) if sock else 0
    return {"requests": requests, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": _ms(pct["50"]), "p99_ms": _ms(pct["99"]), "errors": errors}


def measure(server: Server, endpoint: str, conc: int, duration: float, script: str) -> dict[str, float]:
    cpu0 = cpu_seconds(server.pids)
    r = run_wrk(server.url + ENDPOINTS[endpoint], conc, duration, script)
    r["cpu_us"] = (cpu_seconds(server.pids) - cpu0) / r["requests"] * 1e6
    return r


def _upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tierflow.testing", "--port", "0", "--no-record"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    url = line.strip().rsplit(" ", 1)[-1]
    body = json.dumps({"model": "*", "behaviour": {"kind": "answer", "text": ANSWER}}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/_control/default", data=body,
                                                  headers={"Content-Type": "application/json"}), timeout=10)
    return proc, url


def _table(results: dict[str, Any], endpoint: str) -> list[str]:
    base = results["aiohttp"][endpoint]
    lines = [f"\n{endpoint.upper()} endpoint (median of rounds; ratio = stack / aiohttp)",
             "| stack | CPU/req @64 | ratio | CPU/req @1 | p50 @1 | p50 @64 | p99 @64 | req/s @64 | ratio | errors |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for stack, per in results.items():
        r64, r1 = per[endpoint]["64"], per[endpoint]["1"]
        lines.append(f"| {stack} | {r64['cpu_us']:.0f} µs | {r64['cpu_us'] / base['64']['cpu_us']:.2f} | "
                     f"{r1['cpu_us']:.0f} µs | {r1['p50_ms']:.2f} ms | {r64['p50_ms']:.2f} ms | "
                     f"{r64['p99_ms']:.2f} ms | {r64['rps']:.0f} | {r64['rps'] / base['64']['rps']:.2f} | "
                     f"{per[endpoint]['errors']:.0f} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    stacks = [s for s, (_, mods) in STACKS.items() if not _missing(mods)]
    for s, (_, mods) in STACKS.items():
        if s not in stacks:
            print(f"skipped {s}: missing {_missing(mods)} (bash bench/setup_env.sh installs them)")
    up_proc, up_url = _upstream()
    servers: dict[str, Server] = {}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                 f"wrk.body = {json.dumps(BODY)}\n")
        script = fh.name
    try:
        for s in stacks:
            servers[s] = Server(s, up_url)
        for server in servers.values():  # warm-up: imports, connection pools, JIT-less caches
            for endpoint in ENDPOINTS:
                run_wrk(server.url + ENDPOINTS[endpoint], 64, 1.0, script)
        raw: dict[str, dict[str, dict[str, list[dict[str, float]]]]] = {
            s: {e: {"1": [], "64": []} for e in ENDPOINTS} for s in stacks}
        for rnd in range(args.rounds):
            order = stacks[rnd % len(stacks):] + stacks[:rnd % len(stacks)]
            for endpoint in ENDPOINTS:
                for stack in order:
                    for conc in (1, 64):
                        raw[stack][endpoint][str(conc)].append(
                            measure(servers[stack], endpoint, conc, args.duration, script))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
        up_proc.terminate()
        up_proc.wait(timeout=10)
        os.unlink(script)
    results: dict[str, Any] = {
        s: {e: {c: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for c, runs in per_e.items()}
            for e, per_e in per_s.items()} for s, per_s in raw.items()}
    for s, per_s in raw.items():  # socket errors (wrk's 10 s timeouts, resets) over every run
        for e, per_e in per_s.items():
            results[s][e]["errors"] = sum(r["errors"] for runs in per_e.values() for r in runs)
    print(f"server stacks, one worker each; upstream answer: {len(ANSWER.split())} SSE chunks; "
          f"{args.rounds} rounds x {args.duration:g}s; CPU = the server process tree's user+system time")
    for s in stacks:
        print(f"  {s}: {STACKS[s][0]}")
    for endpoint in ENDPOINTS:
        print("\n".join(_table(results, endpoint)))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "raw": raw}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
