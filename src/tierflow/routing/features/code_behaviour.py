"""Behavioural agreement for code responses ("MBR-exec").

Coding answers have no comparable final answer, so agreement between models is measured by what
their code *does*: test inputs are harvested from the literal calls any response writes in its
examples (``foo("hello", "l", "x")``, ``assert foo([1, 2]) == 3``, ``>>> foo(3)``), every
response's main function is run on the inputs its arity accepts, and responses whose outputs
match get the same key. A cascade compares the responses of every set of models it may consult,
on inputs harvested from that set alone; :class:`CodeRuns` runs each response of a prompt once, on
every input some set could pick, and derives any set's keys from that run. The code runs in a
sandboxed subprocess (:mod:`tierflow.routing.features.code_runner`). Outputs are cached on disk in
``$TIERFLOW_HOME/behaviour.sqlite``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tierflow.local_models import tierflow_home
from tierflow.routing.features.answers import CODE_BLOCK
from tierflow.routing.features.code_runner import arity, run_programs

_VERSION = "3"
_NO_PROGRAM: tuple[list[str], None, list[ast.Module]] = ([], None, [])
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)
def _blocks(response: str) -> list[str]:
    """Code blocks of a response, or the response itself (trimmed until it parses) when unfenced."""
    blocks = ["".join(g) for g in CODE_BLOCK.findall(response)]
    blocks = [b for b in blocks if b.strip()]
    if blocks or "def " not in response:
        return blocks
    return _unfenced_code(response.splitlines())


def _unfenced_code(lines: list[str]) -> list[str]:
    """The code of an unfenced response: from its first import, class or ``def``, cut at the last line
    up to which it parses (none when no prefix parses)."""
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
    stmts, defs, first = _definitions(mods)
    return stmts, (_main_function(mods, defs, first) if first else None), mods


def _definitions(mods: list[ast.Module]) -> tuple[list[str], dict[str, ast.FunctionDef], list[ast.FunctionDef]]:
    """(the top-level statements worth running, as source; each function by name, its first
    definition kept; the functions of the first snippet that defines any)."""
    stmts: list[str] = []
    defs: dict[str, ast.FunctionDef] = {}
    first: list[ast.FunctionDef] = []
    for mod in mods:
        first = first or [n for n in mod.body if isinstance(n, ast.FunctionDef)]
        for node in mod.body:
            if isinstance(node, ast.FunctionDef):
                if node.name in defs:
                    continue  # a later block re-defining a function is a variant, not the answer
                defs[node.name] = node
            if isinstance(node, _KEEP):
                stmts.append(ast.unparse(node))
    return stmts, defs, first


def _called_names(nodes: Any) -> set[str]:
    """The names of the plain functions called anywhere in ``nodes``."""
    return {c.func.id for n in nodes for c in ast.walk(n) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}


def _main_function(mods: list[ast.Module], defs: dict[str, ast.FunctionDef], first: list[ast.FunctionDef]
                   ) -> ast.FunctionDef:
    """The function a response answers with: among the first snippet's functions those no other
    function calls (its helpers are not), preferring the last one its examples call."""
    helpers = set().union(*(_called_names([d]) - {d.name} for d in defs.values()))
    called = _called_names(_examples(mods))
    mains = [d for d in first if d.name not in helpers] or first
    return ([d for d in mains if d.name in called] or mains)[-1]


def _examples(mods: list[ast.Module]) -> list[ast.stmt]:
    """The top-level statements of the snippets that are not function definitions (their examples)."""
    return [n for m in mods for n in m.body if not isinstance(n, ast.FunctionDef)]


def _signature(fn: ast.FunctionDef | None) -> list[Any] | None:
    """[name, fewest, most positional arguments] of a response's main function (None without one)."""
    return None if fn is None else [fn.name, *arity(fn)]


_LITERAL_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)


def _trees(src: str | ast.Module) -> list[ast.Module]:
    """A parsed snippet as it is, or a text's lines that parse as code (doctest prompts stripped)."""
    if isinstance(src, ast.Module):
        return [src]
    return [m for m in (_parse(_doctest_free(ln.strip().strip("`"))) for ln in src.splitlines()) if m]


def _bind(node: ast.stmt, env: dict[str, object]) -> None:
    """Track ``name = literal`` assignments, so later calls may pass the name (forget it otherwise)."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        try:
            env[node.targets[0].id] = ast.literal_eval(node.value)
        except _LITERAL_ERRORS:
            env.pop(node.targets[0].id, None)


def _literal_call(c: ast.AST, names: set[str], env: dict[str, object]) -> tuple[str, str] | None:
    """(repr of the literal arguments, function name) of a positional call to one of ``names``."""
    if not (isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in names) or c.keywords \
            or not c.args:
        return None
    try:
        args = tuple(env[x.id] if isinstance(x, ast.Name) and x.id in env else ast.literal_eval(x) for x in c.args)
    except (*_LITERAL_ERRORS, KeyError):
        return None
    return repr(args), c.func.id


def _harvest_one(src: str | ast.Module, names: set[str]) -> list[tuple[str, str]]:
    """The literal calls to ``names`` in one source, in order, each once (argument reprs over 2000
    characters are left out)."""
    found: list[tuple[str, str]] = []
    env: dict[str, object] = {}
    for tree in _trees(src):
        for node in tree.body:
            _bind(node, env)
            for c in ast.walk(node):
                call = _literal_call(c, names, env)
                if call is not None and len(call[0]) <= 2000 and call not in found:
                    found.append(call)
    return found


def _harvest(sources: list[str | ast.Module], names: set[str]) -> list[list[tuple[str, str]]]:
    """Per source, the (repr of the literal arguments, function name) of calls to any of ``names``,
    in order, each pair once."""
    return [_harvest_one(src, names) for src in sources]


def _harvest_all(prompt: str, responses: Sequence[str | None],
                 programs: list[tuple[list[str], ast.FunctionDef | None, list[ast.Module]]]
                 ) -> tuple[list[list[list[tuple[str, str]]]], list[tuple[str, str]], list[list[tuple[str, str]]]]:
    """The calls to any response's main function: per response per code block, in the prompt, and per
    response in its text."""
    names = {fn.name for _, fn, _ in programs if fn is not None}
    mod_calls = [_harvest(list(mods), names) for *_, mods in programs]
    prompt_calls, *text_calls = _harvest([prompt, *(r or "" for r in responses)], names)
    return mod_calls, prompt_calls, text_calls


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
        state = self._cached_state(settings, cache_dir, lambda: self._compute(prompt, responses, call_timeout_s,
                                                                               timeout_s, memory_mb))
        # per response: (function name, fewest and most arguments) or None; the harvested calls
        # ((args repr, function name)) of each of its code blocks and of its text; its outputs
        self._funcs: list[list[Any] | None] = state["funcs"]
        self._mod_calls: list[list[list[list[str]]]] = state["mod_calls"]
        self._prompt_calls: list[list[str]] = state["prompt_calls"]
        self._text_calls: list[list[list[str]]] = state["text_calls"]
        self._outs: dict[int, dict[str, str]] = {int(k): v for k, v in state["outs"].items()}

    @staticmethod
    def _cached_state(settings: list[Any], cache_dir: Path | None, compute: Any) -> dict[str, Any]:
        """The parsed programs, harvested calls and outputs for ``settings``, from the disk cache or
        ``compute()`` (then stored). The parse is cached too: it costs more than a cascade's use of the keys."""
        cache_key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()
        db, lock = _db(cache_dir)
        with lock:
            row = db.execute("SELECT value FROM runs WHERE key = ?", (cache_key,)).fetchone()
        if row is not None:
            cached: dict[str, Any] = json.loads(row[0])
            return cached
        state: dict[str, Any] = compute()
        with lock, db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (cache_key, json.dumps(state)))
        return state

    def _wanted(self, pools: list[list[tuple[str, str]]]) -> list[str]:
        """Every input some subset could pick: per source and function, its first ``max_inputs`` calls."""
        wanted: list[str] = []
        for pool in pools:
            per_name: dict[str, int] = {}
            for text, name in pool:
                per_name[name] = per_name.get(name, 0) + 1
                if per_name[name] <= self.max_inputs and text not in wanted:
                    wanted.append(text)
        return wanted

    def _compute(self, prompt: str, responses: Sequence[str | None], call_timeout_s: float, timeout_s: float,
                 memory_mb: int) -> dict[str, Any]:
        programs = [_program(r) if r else _NO_PROGRAM for r in responses]
        mod_calls, prompt_calls, text_calls = _harvest_all(prompt, responses, programs)
        wanted = self._wanted([prompt_calls, *text_calls, *(p for pools in mod_calls for p in pools)])
        return {"funcs": [_signature(fn) for _, fn, _ in programs],
                "mod_calls": mod_calls, "prompt_calls": prompt_calls, "text_calls": text_calls,
                "outs": run_programs(programs, wanted, call_timeout_s, timeout_s, memory_mb)}

    def _subset_inputs(self, subset: Sequence[int]) -> list[str]:
        """The inputs of ``subset``: at most ``max_inputs``, taken round-robin from its sources (its
        responses' code blocks, the prompt, its responses' text) so every source contributes."""
        names = {f[0] for f in (self._funcs[i] for i in subset) if f is not None}
        pools = [*(p for i in subset for p in self._mod_calls[i]), self._prompt_calls,
                 *(self._text_calls[i] for i in subset)]
        return _round_robin([list(dict.fromkeys(text for text, name in pool if name in names)) for pool in pools],
                            self.max_inputs)

    def _key(self, i: int, inputs: list[str], sizes: list[int]) -> str | None:
        """Response ``i``'s key on ``inputs``: a digest of its outputs on those its arity accepts, read in
        order and stopping at the first timeout; None when it has none but errors and timeouts."""
        f, outs = self._funcs[i], self._outs.get(i)
        lo, hi = (f[1], f[2]) if f is not None else (-1, -1)
        accepted = [j for j, n in enumerate(sizes) if lo <= n <= hi]
        if outs is None:
            return None
        got: list[str] = []
        for j in accepted:
            got.append("<timeout>" if got[-1:] == ["<timeout>"] else outs.get(inputs[j], "<error>"))
        if not got or all(o in ("<error>", "<timeout>") for o in got):
            return None
        return hashlib.sha256(json.dumps(list(zip(accepted, got))).encode()).hexdigest()[:16]

    def keys(self, subset: Sequence[int]) -> list[str | None]:
        """Per response of ``subset`` (indices, in order), its key among the subset: equal keys mean
        equal outputs on the inputs harvested from the prompt and the subset's responses; None for
        a response without a runnable function, with no input its arity accepts, or whose every
        call raised or timed out."""
        inputs = self._subset_inputs(subset)
        sizes = [len(ast.literal_eval(x)) for x in inputs]
        return [self._key(i, inputs, sizes) for i in subset]


def _round_robin(pools: list[list[str]], limit: int) -> list[str]:
    """Up to ``limit`` distinct items: each pool's first, then each pool's second, and so on."""
    inputs: list[str] = []
    for rank in range(max(map(len, pools), default=0)):
        for pool in pools:
            if rank < len(pool) and pool[rank] not in inputs and len(inputs) < limit:
                inputs.append(pool[rank])
    return inputs


def behaviour_keys(prompt: str, responses: Sequence[str | None], **settings: Any) -> list[str | None]:
    """One key per response: equal keys mean equal outputs on the shared harvested inputs
    (see :meth:`CodeRuns.keys`; ``settings`` are :class:`CodeRuns`'s)."""
    return CodeRuns(prompt, responses, **settings).keys(range(len(responses)))
