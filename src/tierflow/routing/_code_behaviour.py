"""Behavioural agreement for code responses ("MBR-exec").

Coding answers have no comparable final answer, so agreement between models is measured by what
their code *does*: test inputs are harvested from the literal calls any response writes in its
examples (``foo("hello", "l", "x")``, ``assert foo([1, 2]) == 3``, ``>>> foo(3)``), every
response's main function is run on the inputs its arity accepts, and responses whose outputs
match get the same key. All responses of one prompt run in one ``python -I`` subprocess in an
empty temporary directory, with address-space and CPU limits, a per-call alarm and a wall-clock
timeout. Keys are cached on disk in ``$TIERFLOW_HOME/behaviour.sqlite``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from tierflow.local_models import tierflow_home
from tierflow.routing.answers import _CODE_BLOCK

_VERSION = "2"
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
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
            if not callable(fn) or outs[-1:] == ["<timeout>"]:
                outs.append("<error>" if not callable(fn) else "<timeout>"); continue
            try:
                v = call(lambda: norm(fn(*ast.literal_eval(job["inputs"][j]))))
                outs.append(hashlib.md5(re.sub(r" at 0x[0-9a-f]+", "", repr(v)).encode()).hexdigest()[:16])
            except _Timeout: outs.append("<timeout>")
            except BaseException: outs.append("<error>")
    except BaseException: outs = None
    _out.write(json.dumps(dict(idx=r["idx"], outs=outs)) + "\n"); _out.flush()
"""


def _blocks(response: str) -> list[str]:
    """Code blocks of a response, or the response itself (trimmed until it parses) when unfenced."""
    blocks = ["".join(g) for g in _CODE_BLOCK.findall(response)]
    blocks = [b for b in blocks if b.strip()]
    if blocks or "def " not in response:
        return blocks
    lines = response.splitlines()
    lines = lines[next(i for i, ln in enumerate(lines) if ln.startswith(("import ", "from ", "def ", "class "))
                       or "def " in ln):]
    lines[0] = lines[0][lines[0].find("def "):] if not lines[0].startswith(("import ", "from ", "def ")) else lines[0]
    for end in range(len(lines), 0, -1):
        if _parse("\n".join(lines[:end])) is not None:
            return ["\n".join(lines[:end])]
    return []


def _parse(text: str) -> ast.Module | None:
    for _ in range(3):  # SystemError: a CPython 3.11 race when threads parse concurrently
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
        except SystemError:
            continue
    return None


def _doctest_free(text: str) -> str:
    """A snippet with ``>>>`` / ``...`` prompts stripped and other doctest output lines dropped."""
    if ">>>" not in text:
        return text
    return "\n".join(ln.strip()[4:] for ln in text.splitlines() if ln.strip().startswith((">>> ", "... ")))


def _program(response: str) -> tuple[list[str], ast.FunctionDef | None, list[ast.Module]]:
    """(statements to exec, the main function, parsed snippets) of one response."""
    mods = [m for m in (_parse(b) or _parse(_doctest_free(b)) for b in _blocks(response)) if m is not None]
    stmts: list[str] = []
    defs: dict[str, ast.FunctionDef] = {}
    first: list[ast.FunctionDef] = []
    for mod in mods:
        here = [n for n in mod.body if isinstance(n, ast.FunctionDef)]
        first = first or here
        for node in mod.body:
            if isinstance(node, ast.FunctionDef) and node.name in defs:
                continue  # a later block re-defining a function is a variant, not the answer
            if isinstance(node, ast.FunctionDef):
                defs[node.name] = node
            if isinstance(node, _KEEP):
                stmts.append(ast.unparse(node))
    if not first:
        return stmts, None, mods
    helpers = {c.func.id for d in defs.values() for c in ast.walk(d)
               if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id != d.name}
    called = {c.func.id for m in mods for n in m.body if not isinstance(n, ast.FunctionDef)
              for c in ast.walk(n) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    mains = [d for d in first if d.name not in helpers] or first
    return stmts, ([d for d in mains if d.name in called] or mains)[-1], mods


def _arity(fn: ast.FunctionDef) -> tuple[int, float]:
    """(fewest, most) positional arguments a function accepts; (-1, -1) when it cannot be called so."""
    a = fn.args
    if any(d is None for d in a.kw_defaults):
        return -1, -1
    total = len(a.posonlyargs) + len(a.args)
    return total - len(a.defaults), float("inf") if a.vararg else total


def _harvest(texts: list[str], names: set[str], mods: list[ast.Module]) -> list[list[str]]:
    """Per source, the reprs of literal argument tuples of calls to any of ``names``."""
    per_source = []
    for src in [*mods, *texts]:
        found: list[str] = []
        trees = [src] if isinstance(src, ast.Module) else \
            [m for m in (_parse(_doctest_free(ln.strip().strip("`"))) for ln in src.splitlines()) if m]
        env: dict[str, object] = {}
        for tree in trees:
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        env[node.targets[0].id] = ast.literal_eval(node.value)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        env.pop(node.targets[0].id, None)
                for c in ast.walk(node):
                    if not (isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in names) \
                            or c.keywords or not c.args:
                        continue
                    try:
                        args = tuple(env[x.id] if isinstance(x, ast.Name) and x.id in env else ast.literal_eval(x)
                                     for x in c.args)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError, KeyError):
                        continue
                    text = repr(args)
                    if len(text) <= 2000 and text not in found:
                        found.append(text)
        per_source.append(found)
    return per_source


_DBS: dict[Path, tuple[sqlite3.Connection, threading.Lock]] = {}


def _db(cache_dir: Path | None) -> tuple[sqlite3.Connection, threading.Lock]:
    base = cache_dir or tierflow_home()
    if base not in _DBS:
        base.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(base / "behaviour.sqlite", check_same_thread=False)
        db.execute("CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, value TEXT)")
        _DBS[base] = db, threading.Lock()
    return _DBS[base]


def behaviour_keys(prompt: str, responses: Sequence[str | None], *, max_inputs: int = 10,
                   call_timeout_s: float = 0.5, timeout_s: float = 15.0, memory_mb: int = 512,
                   cache_dir: Path | None = None) -> list[str | None]:
    """One key per response: equal keys mean equal outputs on the shared harvested inputs.

    None for a response without a runnable top-level function, with no harvested input its arity
    accepts, or whose every call raised or timed out.
    """
    settings = [_VERSION, max_inputs, call_timeout_s, timeout_s, memory_mb, prompt, list(responses)]
    cache_key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()
    db, lock = _db(cache_dir)
    with lock:
        row = db.execute("SELECT value FROM keys WHERE key = ?", (cache_key,)).fetchone()
    if row is not None:
        return json.loads(row[0])
    keys = _compute(prompt, responses, max_inputs, call_timeout_s, timeout_s, memory_mb)
    with lock, db:
        db.execute("INSERT OR REPLACE INTO keys VALUES (?, ?)", (cache_key, json.dumps(keys)))
    return keys


def _compute(prompt: str, responses: Sequence[str | None], max_inputs: int, call_timeout_s: float,
             timeout_s: float, memory_mb: int) -> list[str | None]:
    programs = [_program(r) if r else ([], None, []) for r in responses]
    names = {fn.name for _, fn, _ in programs if fn is not None}
    pools = _harvest([prompt, *(r or "" for r in responses)], names, [m for *_, ms in programs for m in ms])
    inputs: list[str] = []
    for rank in range(max(map(len, pools), default=0)):  # round-robin so every source contributes
        for pool in pools:
            if rank < len(pool) and pool[rank] not in inputs and len(inputs) < max_inputs:
                inputs.append(pool[rank])
    sizes = [len(ast.literal_eval(x)) for x in inputs]
    jobs = []
    for idx, (stmts, fn, _) in enumerate(programs):
        if fn is None:
            continue
        lo, hi = _arity(fn)
        accepted = [j for j, n in enumerate(sizes) if lo <= n <= hi]
        if accepted:
            jobs.append({"idx": idx, "stmts": stmts, "name": fn.name, "inputs": accepted})
    keys: list[str | None] = [None] * len(responses)
    if not jobs:
        return keys
    runner = _RUNNER.format(mem=memory_mb * 2**20, cpu=max(1, int(timeout_s)))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "job.json").write_text(json.dumps({"call_timeout": call_timeout_s, "inputs": inputs, "responses": jobs}))
        Path(tmp, "run.py").write_text(runner)
        proc = subprocess.Popen([sys.executable, "-I", "run.py"], cwd=tmp, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, _ = proc.communicate()
    by_idx = {j["idx"]: j for j in jobs}
    for line in out.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        outs, job = rec.get("outs"), by_idx.get(rec.get("idx"))
        if job is None or not outs or all(o in ("<error>", "<timeout>") for o in outs):
            continue
        pairs = json.dumps(list(zip(job["inputs"], outs)))
        keys[job["idx"]] = hashlib.sha256(pairs.encode()).hexdigest()[:16]
    return keys
