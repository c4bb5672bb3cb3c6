"""What a recorded response says: its final answer, and signals of whether it is right.

Cascades accept a cheap model's answer when a confidence signal is high. The signals here are
task-agnostic: the *final answer* extracted from free text (a choice letter, a number, a short
phrase) so that models can be checked for agreement; surface features of the response (length,
hedging, refusals); and verifiers, which check a response against itself: the arithmetic a
worked solution writes down (``12 * 3 = 36``), and code that must compile and pass the asserts
the prompt states, run in an isolated subprocess with time and memory limits.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import itertools
import operator
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from tierflow.local_models import tierflow_home

_CHOICE = re.compile(r"^\(?([A-Ha-h])\)?(?:[.):]|\s|$)")
_MARKED = [re.compile(p, re.I | re.M) for p in (
    r"####\s*\$?\s*([^\n]+?)\s*$",
    r"\\boxed\{([^{}]+)\}",
    r"(?:final answer|the answer|answer|(?:correct|best|right) (?:option|choice|completion|ending))"
    r"\s*(?:is|:)\s*[:\s]*\(?\$?\s*(?!a\s+[a-z])([A-Za-z0-9][\w.,/\-]*)",  # not the article in "is a trick"
)]
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
# a short reply whose number is its answer: "18", "$18.", "18 dollars", "option 2", "x = 5"; not a
# name that carries a number ("Apollo 11", "COVID-19")
_SHORT_NUMBER = re.compile(r"(?:(?:option|choice|answer|no\.?)\s*[:#]?\s*|[^=\d]*=\s*)?\$?\s*-?\d[\d,]*(?:\.\d+)?"
                           r"(?:\s*[a-z%$][a-z%$/ ]*)?\.?", re.I)
_HEDGES = re.compile(r"\b(not sure|unsure|unclear|cannot|can't|unable|assum\w*|approximately|roughly|however|"
                     r"it depends|no (?:correct|valid) answer|i apologi[sz]e|sorry|ambiguous)\b", re.I)
CODE_BLOCK = re.compile(r"```(?:python|py|Python)?\s*\n(.*?)```|\[PYTHON\](.*?)\[/PYTHON\]", re.S)


def _norm_number(text: str) -> str | None:
    m = _NUMBER.search(text.replace("$", ""))
    if not m:
        return None
    try:
        value = float(m.group(0).replace(",", ""))
    except ValueError:
        return None
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.6g}"


def _norm_short(text: str) -> str:
    t = text.strip().strip("*").strip()
    m = _CHOICE.match(t)
    if m and (len(t) <= 3 or not t[1:2].isalpha()):
        return m.group(1).upper()
    if len(_NUMBER.findall(t)) == 1 and _SHORT_NUMBER.fullmatch(t):
        return _norm_number(t) or t.lower()
    return re.sub(r"[^\w]+", " ", t.lower()).strip()


def _marked_answer(text: str) -> str | None:
    """The last answer the text marks as such (``#### 42``, ``\\boxed{42}``, ``the answer is B``), normalised."""
    for pattern in _MARKED:
        found = pattern.findall(text)
        if found:
            value = found[-1].strip().rstrip(".")
            return _norm_number(value) if _NUMBER.search(value) and not _CHOICE.match(value + " ") \
                else _norm_short(value)
    return None


def _unmarked_answer(text: str, short: bool) -> str | None:
    """The answer of a text that marks none: a short reply itself (or a choice letter then an
    explanation), else its last number, else a short first line."""
    first = text.splitlines()[0].strip().strip("*").strip()
    if short or (len(first) <= 3 and _CHOICE.match(first)):  # "B" then an explanation
        return _norm_short(first)
    numbers = _NUMBER.findall(text)
    if numbers:
        return _norm_number(numbers[-1])
    return _norm_short(first) if len(first) <= 40 else None


def extract_answer(response: str | None) -> str | None:
    """The final answer a response commits to, normalised; None when there is none to compare."""
    if not response or not response.strip():
        return None
    text = response.strip()
    short = len(text) <= 40 and "\n" not in text
    if not short and ("```" in text or "def " in text or "[PYTHON]" in text):
        return None  # code: compared by behaviour, not by a final answer
    marked = _marked_answer(text)
    return marked if marked is not None else _unmarked_answer(text, short)


_CALC_RUN = re.compile(r"[-+*/x×÷()\d.,$% ]+(?:=[-+*/x×÷()\d.,$% ]+)+")
_CALC_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _calc(node: ast.expr) -> float:
    """Value of a parsed arithmetic expression (numbers, + - * /, unary minus); ValueError otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_calc(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _CALC_OPS:
        left, right = _calc(node.left), _calc(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError("division by zero")
        return float(_CALC_OPS[type(node.op)](left, right))
    raise ValueError("not arithmetic")


def _side(text: str) -> tuple[float, bool] | None:
    """One side of a written equation: its value and whether it is a computation (has an operator)."""
    t = text.replace("$", "").replace("%", "").replace(",", "").replace("×", "*").replace("÷", "/")
    t = re.sub(r"(?<=[\d)\s])x(?=[\s\d(])", "*", t).strip(" .")
    if t.count("(") != t.count(")"):  # a run cut out of a parenthesised aside
        t = t.strip("()").strip(" .")
    if not t or len(t) > 200:
        return None
    try:
        tree = ast.parse(t, mode="eval").body
        return _calc(tree), isinstance(tree, ast.BinOp)
    except (ValueError, SyntaxError, TypeError, OverflowError, RecursionError, MemoryError):
        return None


def _equation_chains(text: str) -> list[list[str]]:
    """The chains ``a = b = c`` written in ``text``; ", " separates chains (``7 = 8, 9 / 4 = 2``)."""
    chains: list[list[str]] = []
    for run in _CALC_RUN.finditer(text):
        parts = run.group(0).split("=")
        chain = [re.split(r",\s+", parts[0])[-1]]
        for k, part in enumerate(parts[1:], start=1):
            pieces = re.split(r",\s+", part)
            chain.append(pieces[0])
            if len(pieces) > 1 and k < len(parts) - 1:
                chains.append(chain)
                chain = [pieces[-1]]
        chains.append(chain)
    return chains


def arithmetic_errors(response: str | None) -> tuple[int, int]:
    """(checked, wrong): equations a worked solution writes down (``(12 / 20) x 100 = 60%``,
    ``40 / 2 + 5 = 20 + 5 = 25``, ``<<20+15=35>>``), each ``=`` with a computation on either side
    checked, and how many of them are false."""
    if not response:
        return 0, 0
    checked = wrong = 0
    for chain in _equation_chains(response):
        for a, b in itertools.pairwise([_side(part) for part in chain]):
            if a is None or b is None or not (a[1] or b[1]):
                continue
            checked += 1
            wrong += abs(a[0] - b[0]) > max(0.01, 0.005 * abs(a[0]))
    return checked, wrong


def extract_code(response: str | None) -> str | None:
    """The Python code of a response: its fenced blocks, or the whole text when it parses."""
    if not response:
        return None
    blocks = ["".join(g) for g in CODE_BLOCK.findall(response)]
    code = "\n".join(b for b in blocks if b.strip())
    if not code and ("def " in response or "import " in response):
        code = response
    return code or None


def prompt_asserts(prompt: str) -> list[str]:
    """``assert`` lines a coding prompt states as its tests."""
    return [line.strip() for line in prompt.splitlines() if line.strip().startswith("assert ")]


_VERIFY_PRELUDE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
"""


class CodeVerifier:
    """Runs a response's code (plus the prompt's asserts) in a subprocess: 1 passed, 0 failed.

    The child runs ``python -I`` in an empty temporary directory, with an address-space and a
    CPU-time limit and a wall-clock timeout. Results are cached on disk by code hash.
    """

    def __init__(self, *, timeout_s: float = 5.0, memory_mb: int = 512, cache_dir: Path | None = None) -> None:
        self.timeout_s, self.memory_mb = timeout_s, memory_mb
        base = cache_dir or tierflow_home()
        base.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(base / "verify.sqlite", check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS verdict (key TEXT PRIMARY KEY, ok INTEGER)")
        self._lock = threading.Lock()

    def run(self, code: str) -> int:
        """Verdict for a piece of code: 1 if it compiles and runs to completion, else 0."""
        key = hashlib.sha256(f"{self.timeout_s}:{self.memory_mb}:{code}".encode()).hexdigest()
        with self._lock:
            row = self._db.execute("SELECT ok FROM verdict WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return int(row[0])
        ok = self._run_uncached(code)
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO verdict VALUES (?, ?)", (key, ok))
        return ok

    def _run_uncached(self, code: str) -> int:
        try:
            ast.parse(code)
        except (SyntaxError, ValueError):
            return 0
        prelude = _VERIFY_PRELUDE.format(mem=self.memory_mb * 2**20, cpu=max(1, int(self.timeout_s)))
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "check.py"
            script.write_text(prelude + "\n" + code + "\n", encoding="utf-8")
            try:
                proc = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp, capture_output=True,
                                      timeout=self.timeout_s, stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
            except subprocess.TimeoutExpired:
                return 0
        return int(proc.returncode == 0)

    def verify(self, prompt: str, response: str | None) -> int | None:
        """1 / 0 for a response that carries code, None when it carries none."""
        code = extract_code(response)
        if code is None:
            return None
        return self.run(code + "\n" + "\n".join(prompt_asserts(prompt)))


N_RESPONSE_FEATURES = 12


def _is_refusal(response: str) -> bool:
    stripped = response.strip()
    return len(stripped) == 0 or stripped.lower().startswith(("i'm sorry", "sorry", "i cannot"))


@functools.lru_cache(maxsize=1 << 16)
def response_features(prompt: str, response: str | None, verdict: int | None = None) -> np.ndarray:
    """Numeric features of one response, for a learned estimator of its quality (read-only).

    Cached: a cascade's calibration refits it five times on the same responses.
    """
    if response is None:
        return _frozen(np.zeros(N_RESPONSE_FEATURES))
    answer = extract_answer(response)
    checked, wrong = arithmetic_errors(response)
    numeric = answer is not None and _NUMBER.fullmatch(answer) is not None
    prompt_numbers = {_norm_number(x) for x in _NUMBER.findall(prompt)}
    results = [_norm_number(chain[-1]) for chain in _equation_chains(response)]
    whole = numeric and "." not in str(answer) and "-" not in str(answer)
    return _frozen(np.array([
        np.log1p(len(response)) / 8,
        float(answer is not None),
        min(len(_HEDGES.findall(response)), 3) / 3,
        min(checked, 10) / 10,
        float(wrong > 0),
        float(whole),  # a whole, non-negative number
        float(extract_code(response) is not None),
        _verdict_feature(verdict),
        float(_is_refusal(response)),
        float(numeric and answer in prompt_numbers),  # the answer only repeats a given number
        float(bool(results) and answer == results[-1]),  # the answer is the last step's result
        np.log1p(len(response)) - np.log1p(len(prompt)),  # length relative to the question
    ]))


def _verdict_feature(verdict: int | None) -> float:
    """A code verifier's verdict as a feature: 0 when there is none, +1 passed, -1 failed."""
    return 0.0 if verdict is None else (1.0 if verdict else -1.0)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)  # shared by every caller of the cache
    return a
