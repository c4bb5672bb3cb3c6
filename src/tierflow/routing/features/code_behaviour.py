"""Behavioural agreement for code responses ("MBR-exec").

Coding answers have no comparable final answer, so agreement between models is measured by what
their code *does*: test inputs are harvested from the literal calls any response writes in its
examples (``foo("hello", "l", "x")``, ``assert foo([1, 2]) == 3``, ``>>> foo(3)``), every
response's main function is run on the inputs its arity accepts, and responses whose outputs
match get the same key. A cascade compares the responses of every set of models it may consult,
on inputs harvested from that set alone; :class:`CodeRuns` runs each response of a prompt once, on
every input some set could pick, and derives any set's keys from that run. It runs in one
``python -I`` subprocess in an empty temporary directory, with address-space and CPU limits, a
per-call alarm and a wall-clock timeout. Outputs are cached on disk in
``$TIERFLOW_HOME/behaviour.sqlite``.
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
from typing import Any

from tierflow.local_models import tierflow_home
from tierflow.routing.features.answers import _CODE_BLOCK

_VERSION = "3"
# a response stops being run after this many timed-out calls; keys() reads a subset's inputs in
# its own order and stops at the first timeout, as a run of that subset alone would
_MAX_TIMEOUTS = 3
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


def _harvest(sources: list[str | ast.Module], names: set[str]) -> list[list[tuple[str, str]]]:
    """Per source, the (repr of the literal arguments, function name) of calls to any of ``names``,
    in order, each pair once."""
    per_source = []
    for src in sources:
        found: list[tuple[str, str]] = []
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
                    call = (repr(args), c.func.id)
                    if len(call[0]) <= 2000 and call not in found:
                        found.append(call)
        per_source.append(found)
    return per_source


_DBS: dict[Path, tuple[sqlite3.Connection, threading.Lock]] = {}


def _db(cache_dir: Path | None) -> tuple[sqlite3.Connection, threading.Lock]:
    base = cache_dir or tierflow_home()
    if base not in _DBS:
        base.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(base / "behaviour.sqlite", check_same_thread=False)
        db.execute("CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, value TEXT)")
        _DBS[base] = db, threading.Lock()
    return _DBS[base]


class CodeRuns:
    """One prompt's code responses, each run once on every input some subset of them could pick.

    :meth:`keys` then gives the behaviour keys of any subset of the responses, as if only that
    subset had been consulted: its inputs are harvested from the prompt and the subset's responses
    alone, so one subprocess per prompt serves every subset a cascade tries. A subset's inputs
    are at most ``max_inputs`` taken round-robin from its sources, and a call that appears
    ``max_inputs`` times in a source after other calls of its function cannot be among them, so
    the union run covers, per source and function, the first ``max_inputs`` calls.
    """

    def __init__(self, prompt: str, responses: Sequence[str | None], *, max_inputs: int = 10,
                 call_timeout_s: float = 0.5, timeout_s: float = 15.0, memory_mb: int = 512,
                 cache_dir: Path | None = None) -> None:
        self.max_inputs = max_inputs
        settings = [_VERSION, max_inputs, call_timeout_s, timeout_s, memory_mb, prompt, list(responses)]
        cache_key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()
        db, lock = _db(cache_dir)
        with lock:
            row = db.execute("SELECT value FROM runs WHERE key = ?", (cache_key,)).fetchone()
        if row is not None:  # the parse is cached too: it costs more than a cascade's use of the keys
            state = json.loads(row[0])
        else:
            state = self._compute(prompt, responses, call_timeout_s, timeout_s, memory_mb)
            with lock, db:
                db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (cache_key, json.dumps(state)))
        # per response: (function name, fewest and most arguments) or None; the harvested calls
        # ((args repr, function name)) of each of its code blocks and of its text; its outputs
        self._funcs: list[list[Any] | None] = state["funcs"]
        self._mod_calls: list[list[list[list[str]]]] = state["mod_calls"]
        self._prompt_calls: list[list[str]] = state["prompt_calls"]
        self._text_calls: list[list[list[str]]] = state["text_calls"]
        self._outs: dict[int, dict[str, str]] = {int(k): v for k, v in state["outs"].items()}

    def _compute(self, prompt: str, responses: Sequence[str | None], call_timeout_s: float, timeout_s: float,
                 memory_mb: int) -> dict[str, Any]:
        programs = [_program(r) if r else ([], None, []) for r in responses]
        names = {fn.name for _, fn, _ in programs if fn is not None}
        mod_calls = [_harvest(list(mods), names) for *_, mods in programs]
        prompt_calls, *text_calls = _harvest([prompt, *(r or "" for r in responses)], names)
        wanted: list[str] = []
        for pool in [prompt_calls, *text_calls, *(p for pools in mod_calls for p in pools)]:
            per_name: dict[str, int] = {}
            for text, name in pool:
                per_name[name] = per_name.get(name, 0) + 1
                if per_name[name] <= self.max_inputs and text not in wanted:
                    wanted.append(text)
        return {"funcs": [None if fn is None else [fn.name, *_arity(fn)] for _, fn, _ in programs],
                "mod_calls": mod_calls, "prompt_calls": prompt_calls, "text_calls": text_calls,
                "outs": _run(programs, wanted, call_timeout_s, timeout_s, memory_mb)}

    def keys(self, subset: Sequence[int]) -> list[str | None]:
        """Per response of ``subset`` (indices, in order), its key among the subset: equal keys mean
        equal outputs on the inputs harvested from the prompt and the subset's responses; None for
        a response without a runnable function, with no input its arity accepts, or whose every
        call raised or timed out."""
        names = {f[0] for f in (self._funcs[i] for i in subset) if f is not None}
        pools = [*(p for i in subset for p in self._mod_calls[i]), self._prompt_calls,
                 *(self._text_calls[i] for i in subset)]
        pools = [list(dict.fromkeys(text for text, name in pool if name in names)) for pool in pools]
        inputs: list[str] = []
        for rank in range(max(map(len, pools), default=0)):  # round-robin so every source contributes
            for pool in pools:
                if rank < len(pool) and pool[rank] not in inputs and len(inputs) < self.max_inputs:
                    inputs.append(pool[rank])
        sizes = [len(ast.literal_eval(x)) for x in inputs]
        keys: list[str | None] = []
        for i in subset:
            f, outs = self._funcs[i], self._outs.get(i)
            lo, hi = (f[1], f[2]) if f is not None else (-1, -1)
            accepted = [j for j, n in enumerate(sizes) if lo <= n <= hi]
            got: list[str] = []
            for j in accepted if outs is not None else []:
                got.append("<timeout>" if got[-1:] == ["<timeout>"] else outs.get(inputs[j], "<error>"))
            if not got or all(o in ("<error>", "<timeout>") for o in got):
                keys.append(None)
                continue
            keys.append(hashlib.sha256(json.dumps(list(zip(accepted, got))).encode()).hexdigest()[:16])
        return keys


def behaviour_keys(prompt: str, responses: Sequence[str | None], **settings: Any) -> list[str | None]:
    """One key per response: equal keys mean equal outputs on the shared harvested inputs
    (see :meth:`CodeRuns.keys`; ``settings`` are :class:`CodeRuns`'s)."""
    return CodeRuns(prompt, responses, **settings).keys(range(len(responses)))


def _run(programs: list[tuple[list[str], ast.FunctionDef | None, list[ast.Module]]], inputs: list[str],
         call_timeout_s: float, timeout_s: float, memory_mb: int) -> dict[str, dict[str, str]]:
    """Per response index, its output digest on each of ``inputs`` its arity accepts (one subprocess)."""
    sizes = [len(ast.literal_eval(x)) for x in inputs]
    jobs = []
    for idx, (stmts, fn, _) in enumerate(programs):
        if fn is None:
            continue
        lo, hi = _arity(fn)
        accepted = [j for j, n in enumerate(sizes) if lo <= n <= hi]
        if accepted:
            jobs.append({"idx": idx, "stmts": stmts, "name": fn.name, "inputs": accepted})
    if not jobs:
        return {}
    wall = timeout_s * max(1.0, len(jobs) / 3)  # the budget once was per three responses
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
