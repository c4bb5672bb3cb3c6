"""The gateway under load: overhead against a floor and an anchor, and a load-and-fault run.

    apt-get install wrk
    python bench/bench_gateway.py overhead [--duration 5] [--rounds 2] [--litellm PATH/bin/litellm]
                                           [--baseline-src OTHER_CHECKOUT/src]
    python bench/bench_gateway.py load [--requests 10000] [--concurrency 64]

Everything runs on 127.0.0.1, each server in its own process, the upstream being the project's
test server (``python -m tierflow.testing``).

``overhead``: the same chat request (plain JSON, a 16-word answer) through ``tierflow serve``
(ledger on: every request is a row), a bare aiohttp pass-through proxy (``bench/_passthrough.py``,
the floor) and LiteLLM's proxy (the anchor, when ``--litellm`` names its executable: install
/work/shared/bench/litellm-proxy-pins.txt with ``pip install --no-deps -r`` into a venv of its
own), and straight to the upstream. ``wrk`` drives each with 1 and 64 connections; per server:
CPU per request of its process (user + system, /proc), p50 / p99 latency and the latency added to
the upstream's own at 1 connection, requests/s at 64; the median of ``--rounds`` rounds taken in
rotating order, with ratios measured in the same run. ``--baseline-src`` serves a second
``tierflow serve`` from another checkout's sources (``git worktree add /tmp/main main``) in the
same rounds: a before/after comparison that the machine's load shifts alike.

``load``: ``--requests`` requests (half of them streamed) at ``--concurrency`` in flight through
``tierflow serve`` with one budgeted virtual key, while the upstream's primary model answers 10 %
of its requests with a 500, hangs on 1 % and cuts 1 % of its streams after two chunks (a fallback
model is healthy). It checks that every request ends with an answer or a clear error (an
OpenAI-shaped error body, or an SSE error event) within the call deadline plus one second, that
the ledger has one row per request, that the key's charges stay within its budget, and that the
gateway's RSS grows less than 5 % between request 2,000 and the last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_server_stack import _free_port, _tree, _wait_http, cpu_seconds, run_wrk  # noqa: E402

ANSWER = " ".join(f"word{i}" for i in range(16))
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say something short about benchmarks."}]}
MASTER = "sk-bench-master-0123456789"
ADMIN = "admin-bench-0123456789abcdef"


def _upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tierflow.testing", "--port", "0", "--no-record"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    url = line.strip().rsplit(" ", 1)[-1]
    _control(url, "/_control/default", {"model": "*", "behaviour": {"kind": "answer", "text": ANSWER}})
    return proc, url


def _control(url: str, path: str, data: dict[str, Any]) -> None:
    urllib.request.urlopen(urllib.request.Request(url + path, data=json.dumps(data).encode(),
                                                  headers={"Content-Type": "application/json"}), timeout=30)


class Proc:
    """A server in its own process; ``pids`` for its CPU, ``url`` to call."""

    def __init__(self, name: str, argv: list[str], port: int, health: str, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(tempfile.gettempdir()) / f"bench-gateway-{port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd, stdout=log,
                                         stderr=subprocess.STDOUT)
        _wait_http(self.url + health, self.proc, 120.0)  # type: ignore[arg-type]
        self.pids = _tree(self.proc.pid)

    def rss_kb(self) -> int:
        return sum(int(Path(f"/proc/{p}/status").read_text().split("VmRSS:")[1].split()[0]) for p in self.pids
                   if Path(f"/proc/{p}/status").exists())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _gateway(tmp: Path, upstream: str, extra: str = "", env: dict[str, str] | None = None,
             name: str = "tierflow serve") -> Proc:
    tmp.mkdir(exist_ok=True)
    cfg = tmp / "tierflow.yaml"
    cfg.write_text(f"""
providers:
  t: {{kind: openai, base_url: "{upstream}/v1", api_key: sk-up, max_connections: 256,
       timeouts: {{connect: 2, total: 1.5, stream_idle: 1}}}}
models:
  - {{role: bench, ref: t, model: bench-model, fallback: [{{ref: t, model: backup-model}}]}}
prices:
  "t/*": {{input_per_mtok: 1, output_per_mtok: 2}}
{extra}
gateway: {{database: {tmp / 'gateway.sqlite'}}}
""", encoding="utf-8")
    port = _free_port()
    return Proc(name, [sys.executable, "-m", "tierflow.cli", "serve", "--config", str(cfg), "--port", str(port)],
                port, "/health", env)


# --- overhead ---------------------------------------------------------------------------------


def _wrk_script(tmp: Path, auth: str | None) -> str:
    path = tmp / ("wrk-auth.lua" if auth else "wrk.lua")
    headers = f'wrk.headers["Authorization"] = "Bearer {auth}"\n' if auth else ""
    path.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n' + headers
                    + f"wrk.body = [[{json.dumps(BODY)}]]\n", encoding="utf-8")
    return str(path)


def _litellm(exe: str, tmp: Path, upstream: str) -> Proc:
    cfg = tmp / "litellm.yaml"
    cfg.write_text(f"""
model_list:
  - model_name: bench
    litellm_params: {{model: openai/bench-model, api_base: "{upstream}/v1", api_key: sk-up}}
general_settings: {{master_key: {MASTER}}}
litellm_settings: {{num_retries: 0, telemetry: false}}
""", encoding="utf-8")
    port = _free_port()
    return Proc("LiteLLM proxy", [exe, "--config", str(cfg), "--port", str(port), "--num_workers", "1"], port,
                "/health/liveliness", {"LITELLM_LOG": "ERROR", "NO_DOCS": "True", "PYTHONPATH": "",
                                       "LITELLM_LOCAL_MODEL_COST_MAP": "True"}, str(tmp))


def overhead(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        up_proc, upstream = _upstream()
        servers: list[Proc] = []
        try:
            servers.append(Proc("bare aiohttp proxy (floor)", [sys.executable, str(HERE / "_passthrough.py"),
                                                               str(port := _free_port()), upstream], port, "/health"))
            servers.append(_gateway(tmp, upstream))
            if args.baseline_src:  # another tierflow's sources (e.g. main's), measured in the same rounds
                servers.append(_gateway(tmp / "baseline", upstream, env={"PYTHONPATH": args.baseline_src},
                                        name="tierflow serve (baseline)"))
            if args.litellm:
                servers.append(_litellm(args.litellm, tmp, upstream))
            plain, auth = _wrk_script(tmp, None), _wrk_script(tmp, MASTER)
            target = {s.name: (s.url, auth if "LiteLLM" in s.name else plain) for s in servers}
            print("servers:", {name: url for name, (url, _) in target.items()}, flush=True)
            target["upstream (direct)"] = (upstream, plain)
            for url, script in target.values():  # warm up (first requests build plans, pools; LiteLLM's are slow)
                _wrk(url, 4, args.warmup, script)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in target}
            names = list(target)
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    url, script = target[name]
                    proc = next((s for s in servers if s.name == name), None)
                    pids = proc.pids if proc else _tree(up_proc.pid)
                    one = _wrk(url, 1, args.duration, script)
                    cpu0 = cpu_seconds(pids)
                    many = _wrk(url, 64, args.duration, script)
                    cpu = (cpu_seconds(pids) - cpu0) / many["requests"] * 1e6 if many["requests"] else float("nan")
                    rounds[name].append({"cpu_us": cpu, "p50_1": one["p50_ms"], "p99_1": one["p99_ms"],
                                         "p50_64": many["p50_ms"], "p99_64": many["p99_ms"], "rps": many["rps"],
                                         "errors": one["errors"] + many["errors"]})
            _report(rounds)
            rows = _ledger_rows(tmp / "gateway.sqlite", servers[1])
            print(f"\ntierflow serve's ledger: {rows} request rows (ledger on)")
        finally:
            for s in servers:
                s.stop()
            up_proc.terminate()
            up_proc.wait()
    return 0


def _wrk(url: str, conc: int, duration: float, script: str) -> dict[str, float]:
    """wrk's figures; NaN latencies and no requests when none completed within the run."""
    try:
        return run_wrk(url + "/v1/chat/completions", conc, duration, script)
    except (KeyError, AttributeError):  # no request completed: wrk printed no percentiles
        print(f"  {url}: no request completed in {duration:g} s at {conc} connections", flush=True)
        nan = float("nan")
        return {"requests": 0, "rps": 0.0, "p50_ms": nan, "p99_ms": nan, "errors": 0}


def _report(rounds: dict[str, list[dict[str, float]]]) -> None:
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in rounds.items()}
    floor, direct = med["bare aiohttp proxy (floor)"], med["upstream (direct)"]
    print(f"\nload average {os.getloadavg()[0]:.1f}; median of {len(next(iter(rounds.values())))} rounds; "
          "CPU per request is the proxy process's own (user + system)")
    print("| server | CPU/req @64 | vs floor | added p50 @1 | added p99 @1 | p50 @64 | p99 @64 | req/s @64 |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m in med.items():
        if name == "upstream (direct)":
            print(f"| {name} | - | - | (p50 {m['p50_1']:.2f} ms) | (p99 {m['p99_1']:.2f} ms) | "
                  f"{m['p50_64']:.2f} ms | {m['p99_64']:.2f} ms | {m['rps']:.0f} |")
            continue
        print(f"| {name} | {m['cpu_us']:.0f} µs | {m['cpu_us'] / floor['cpu_us']:.2f}x | "
              f"{m['p50_1'] - direct['p50_1']:+.2f} ms | {m['p99_1'] - direct['p99_1']:+.2f} ms | "
              f"{m['p50_64']:.2f} ms | {m['p99_64']:.2f} ms | {m['rps']:.0f} |")
    lite = next((m for n, m in med.items() if "LiteLLM" in n), None)
    ours = med["tierflow serve"]
    if lite:
        print(f"\nLiteLLM proxy CPU per request / tierflow serve's: {lite['cpu_us'] / ours['cpu_us']:.1f}x")
    base = med.get("tierflow serve (baseline)")
    if base:
        print(f"\ntierflow serve's CPU per request / the baseline's: {ours['cpu_us'] / base['cpu_us']:.2f}x")


def _ledger_rows(db: Path, gateway: Proc) -> int:
    gateway.stop()  # the ledger's last group is committed at shutdown
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


# --- load and faults -----------------------------------------------------------------------------


def _faults(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for _ in range(n):
        x = rng.random()
        out.append({"kind": "status", "code": 500} if x < 0.10 else {"kind": "hang", "seconds": 30} if x < 0.11
                   else {"kind": "cut_stream", "after_chunks": 2, "text": ANSWER} if x < 0.12
                   else {"kind": "answer", "text": ANSWER})
    return out


async def _one(session: Any, url: str, key: str, i: int, deadline_s: float) -> tuple[str, float]:
    """``ok``, ``error`` (a clear error: OpenAI's error object, or an SSE error event) or ``unclear``."""
    import aiohttp

    body = {**BODY, "stream": i % 2 == 1, "max_tokens": 64}
    t0 = time.perf_counter()
    received: list[bytes] = []  # a stream failing after content ends with an error event, then a cut
    try:
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {key}"},
                                timeout=aiohttp.ClientTimeout(total=deadline_s + 5)) as resp:
            async for piece in resp.content.iter_any():
                received.append(piece)
    except aiohttp.ClientPayloadError:
        cut = b"".join(received).decode(errors="replace")
        return ("error" if body["stream"] and '"error":' in cut else "unclear"), time.perf_counter() - t0
    except (TimeoutError, aiohttp.ClientError):
        return "unclear", time.perf_counter() - t0
    raw = b"".join(received)
    took = time.perf_counter() - t0
    text = raw.decode(errors="replace")
    if resp.status != 200:
        try:
            err = json.loads(text)["error"]
            return ("error" if err.get("message") and err.get("type") else "unclear"), took
        except (ValueError, KeyError, TypeError):
            return "unclear", took
    if not body["stream"]:
        return ("ok" if json.loads(text).get("choices") else "unclear"), took
    if text.rstrip().endswith("data: [DONE]"):
        return "ok", took
    return ("error" if '"error":' in text else "unclear"), took


async def _drive(url: str, key: str, n: int, conc: int, deadline_s: float, gateway: Proc) -> dict[str, Any]:
    import aiohttp

    outcomes: dict[str, int] = {"ok": 0, "error": 0, "unclear": 0}
    slowest = 0.0
    rss: dict[int, int] = {}
    done = 0
    queue = iter(range(n))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, slowest
        for i in queue:
            kind, took = await _one(session, url, key, i, deadline_s)
            outcomes[kind] += 1
            slowest = max(slowest, took)
            done += 1
            if done in (min(2000, n // 5), n):
                rss[done] = gateway.rss_kb()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:
        await asyncio.gather(*(worker(session) for _ in range(conc)))
    return {"outcomes": outcomes, "slowest_s": slowest, "rss": rss}


def load(args: argparse.Namespace) -> int:
    deadline_s = 4.0
    budget = round(args.requests * 3.4e-5, 6)  # runs out near the end: the last requests get 429 budget_exceeded
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        up_proc, upstream = _upstream()
        _control(upstream, "/_control/script", {"model": "bench-model",
                                                 "behaviours": _faults(int(args.requests * 1.5), args.seed)})
        gateway = _gateway(tmp, upstream, f"reliability: {{max_retries: 1, backoff_initial_s: 0.05, "
                           f"deadline_s: {deadline_s}}}", {"TIERFLOW_ADMIN_KEY": ADMIN})
        try:
            req = urllib.request.Request(gateway.url + "/admin/keys", data=json.dumps(
                {"name": "bench", "usd_per_day": budget}).encode(), headers={
                "Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
            key = json.loads(urllib.request.urlopen(req, timeout=30).read())["key"]
            t0 = time.perf_counter()
            run = asyncio.run(_drive(gateway.url + "/v1/chat/completions", key, args.requests, args.concurrency,
                                     deadline_s, gateway))
            wall = time.perf_counter() - t0
        finally:
            gateway.stop()
            up_proc.terminate()
            up_proc.wait()
        with sqlite3.connect(tmp / "gateway.sqlite") as conn:
            rows = int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
            charged = float(conn.execute("SELECT coalesce(sum(charged_usd), 0) FROM requests").fetchone()[0])
            by = dict(conn.execute("SELECT coalesce(error_code, outcome), count(*) FROM requests GROUP BY 1"))
    first = min(2000, args.requests // 5)
    growth = run["rss"][args.requests] / run["rss"][first] - 1
    checks = {"every request answered or a clear error": run["outcomes"]["unclear"] == 0,
              f"within the deadline ({deadline_s:g} s) + 1 s": run["slowest_s"] <= deadline_s + 1,
              "ledger rows == requests": rows == args.requests,
              f"charged <= budget (${budget}), the budget reached": charged <= budget + 1e-9
              and by.get("budget_exceeded", 0) > 0,
              f"RSS growth < 5 % (request {first:,} -> last)": growth < 0.05}
    print(f"load average {os.getloadavg()[0]:.1f}; {args.requests} requests at {args.concurrency} in flight in "
          f"{wall:.1f} s ({args.requests / wall:.0f} req/s)")
    print(f"outcomes: {run['outcomes']}; slowest {run['slowest_s']:.2f} s; ledger rows {rows} by outcome/code {by}")
    print(f"charged ${charged:.6f} of ${budget}; RSS {run['rss']} kB (growth {growth * 100:+.1f} %)")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--duration", type=float, default=5.0)
    o.add_argument("--rounds", type=int, default=2)
    o.add_argument("--litellm", help="the litellm executable of a venv with the proxy pins")
    o.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up load per server")
    o.add_argument("--baseline-src", help="the src folder of another tierflow checkout (e.g. main's), served "
                                          "beside this one and measured in the same rounds")
    ld = sub.add_parser("load")
    ld.add_argument("--requests", type=int, default=10_000)
    ld.add_argument("--concurrency", type=int, default=64)
    ld.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    return overhead(args) if args.mode == "overhead" else load(args)


if __name__ == "__main__":
    raise SystemExit(main())
