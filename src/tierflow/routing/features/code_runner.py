"""Running response code in a sandbox: one ``python -I`` subprocess per prompt, in an empty temporary
folder, with address-space and CPU limits, a per-call alarm and a wall-clock timeout after which its
process group is killed. :mod:`tierflow.routing.features.code_behaviour` decides what to run.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# a response stops being run after this many timed-out calls; keys() reads a subset's inputs in
# its own order and stops at the first timeout, as a run of that subset alone would
_MAX_TIMEOUTS = 3
_RUNNER = r"""
import ast, hashlib, json, math, re, resource, signal, sys
resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
class _Timeout(BaseException): pass
def _alarm(*_): raise _Timeout()
signal.signal(signal.SIGALRM, _alarm)
class _Null:
    def write(self, s): return len(s)
    def flush(self): pass
_out = sys.stdout
sys.stdout = sys.stderr = _Null()
job = json.load(open("job.json"))
T = job["call_timeout"]
def norm(v, d=0):
    if d > 20: return "..."
    if isinstance(v, float): return round(v, 9) if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)): return (type(v).__name__, [norm(x, d + 1) for x in v])
    if isinstance(v, (set, frozenset)): return ("set", sorted(repr(norm(x, d + 1)) for x in v))
    if isinstance(v, dict): return ("dict", sorted((repr(norm(k, d + 1)), repr(norm(x, d + 1))) for k, x in v.items()))
    if hasattr(v, "__next__"): return ("iter", [norm(x, d + 1) for _, x in zip(range(1000), v)])
    return v
def call(fn, *a):
    signal.setitimer(signal.ITIMER_REAL, T)
    try: return fn(*a)
    finally: signal.setitimer(signal.ITIMER_REAL, 0)
for r in job["responses"]:
    ns, outs = dict(__name__="__response__"), []
    try:
        for s in r["stmts"]:
            try: call(exec, compile(s, "<response>", "exec"), ns)
            except BaseException: pass
        fn = ns.get(r["name"])
        for j in r["inputs"]:
            if not callable(fn) or outs.count("<timeout>") >= job["max_timeouts"]:
                outs.append("<error>" if not callable(fn) else "<timeout>"); continue
            try:
                v = call(lambda: norm(fn(*ast.literal_eval(job["inputs"][j]))))
                outs.append(hashlib.md5(re.sub(r" at 0x[0-9a-f]+", "", repr(v)).encode()).hexdigest()[:16])
            except _Timeout: outs.append("<timeout>")
            except BaseException: outs.append("<error>")
    except BaseException: outs = None
    _out.write(json.dumps(dict(idx=r["idx"], outs=outs)) + "\n"); _out.flush()
"""



def arity(fn: ast.FunctionDef) -> tuple[int, float]:
    """(fewest, most) positional arguments a function accepts; (-1, -1) when it cannot be called so."""
    a = fn.args
    if any(d is None for d in a.kw_defaults):
        return -1, -1
    total = len(a.posonlyargs) + len(a.args)
    return total - len(a.defaults), float("inf") if a.vararg else total


def _jobs(programs: list[tuple[list[str], ast.FunctionDef | None, list[ast.Module]]], sizes: list[int]
          ) -> list[dict[str, Any]]:
    """Per response with a main function and an input its arity accepts: what the runner needs."""
    jobs = []
    for idx, (stmts, fn, _) in enumerate(programs):
        if fn is None:
            continue
        lo, hi = arity(fn)
        accepted = [j for j, n in enumerate(sizes) if lo <= n <= hi]
        if accepted:
            jobs.append({"idx": idx, "stmts": stmts, "name": fn.name, "inputs": accepted})
    return jobs


def _execute(jobs: list[dict[str, Any]], inputs: list[str], call_timeout_s: float, wall: float, memory_mb: int
             ) -> str:
    """The runner's output lines for ``jobs``: one ``python -I`` subprocess in an empty temporary folder,
    with memory and CPU limits, killed with its process group after ``wall`` seconds."""
    runner = _RUNNER.format(mem=memory_mb * 2**20, cpu=max(1, int(wall)))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "job.json").write_text(json.dumps({"call_timeout": call_timeout_s, "max_timeouts": _MAX_TIMEOUTS,
                                                         "inputs": inputs, "responses": jobs}))
        Path(tmp, "run.py").write_text(runner)
        proc = subprocess.Popen([sys.executable, "-I", "run.py"], cwd=tmp, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=wall)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, _ = proc.communicate()
    return out


def _outputs(out: str, jobs: list[dict[str, Any]], inputs: list[str]) -> dict[str, dict[str, str]]:
    """Per response index (as a string), its output digest on each input it ran on (lines that do not
    parse, from a runner killed mid-line, are skipped)."""
    by_idx = {j["idx"]: j for j in jobs}
    result: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        outs, job = rec.get("outs"), by_idx.get(rec.get("idx"))
        if job is not None and outs:
            result[str(job["idx"])] = {inputs[j]: o for j, o in zip(job["inputs"], outs)}
    return result


def run_programs(programs: list[tuple[list[str], ast.FunctionDef | None, list[ast.Module]]], inputs: list[str],
         call_timeout_s: float, timeout_s: float, memory_mb: int) -> dict[str, dict[str, str]]:
    """Per response index, its output digest on each of ``inputs`` its arity accepts (one subprocess)."""
    jobs = _jobs(programs, [len(ast.literal_eval(x)) for x in inputs])
    if not jobs:
        return {}
    wall = timeout_s * max(1.0, len(jobs) / 3)  # the budget once was per three responses
    return _outputs(_execute(jobs, inputs, call_timeout_s, wall, memory_mb), jobs, inputs)
