"""Recording outcomes: ask roles questions with a known answer, score each answer, and append it to
an outcome file in the long format, ready for ``tierflow route fit``.

Questions are JSON lines ``{"prompt", "reference", "prompt_id"?, "task"?}``; ``reference`` is the
expected answer. Each answer is scored 1 or 0 by a scorer (:data:`SCORERS`); ``auto`` compares
numbers as numbers, choice letters as letters, and otherwise looks for the reference in the
answer. Every outcome line is appended as soon as its call returns, so a run that stops (a crash,
Ctrl-C, a provider down) keeps every answer already paid for, and running it again records only
the missing prompt x role pairs. A call that fails after its role's retries and fallbacks is not
recorded (a transient failure is not the model being wrong) but counted and reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tierflow.errors import Problem, TierflowError
from tierflow.routing.data.long_format import jsonl_objects
from tierflow.routing.data.outcomes import raise_problems
from tierflow.routing.features.answers import extract_answer

if TYPE_CHECKING:
    from tierflow.calls import Client

_NUMERIC = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?%?")
_LETTER = re.compile(r"\(?([A-Ha-h])\)?")
_SAID_LETTER = re.compile(r"\b(?i:answer|option|choice)\s*(?:is|:)?\s*\(?([A-H])\b")


@dataclass(frozen=True, slots=True)
class Question:
    """One prompt with its expected answer."""

    prompt_id: str
    prompt: str
    reference: str
    task: str = "default"


@dataclass(slots=True)
class RecordSummary:
    """What one recording run did."""

    recorded: int = 0
    skipped: int = 0
    """Prompt x role pairs already in the output file."""
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    """(prompt_id, role, error) of each call that failed after its retries."""


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def _exact(answer: str, reference: str) -> bool:
    return _words(answer) == _words(reference)


def _contains(answer: str, reference: str) -> bool:
    ref = _words(reference)
    return bool(ref) and f" {ref} " in f" {_words(answer)} "


def _number(answer: str, reference: str) -> bool:
    """The answer's number (a marked answer such as ``#### 42``, else its last number) is the reference's."""
    expected = extract_answer(reference)
    if expected is None or not _NUMERIC.fullmatch(expected):
        return False
    given = extract_answer(answer)
    if given is None or not _NUMERIC.fullmatch(given):
        last = _NUMERIC.findall(answer.replace("$", ""))
        given = extract_answer(last[-1]) if last else None
    return given == expected


def _choice(answer: str, reference: str) -> bool:
    """The answer's choice letter (``B``, ``(B)``, ``B) ...``, ``the answer is B``) is the reference's."""
    m = _LETTER.fullmatch(reference.strip())
    if m is None:
        return False
    given = extract_answer(answer)
    if given is None or len(given) != 1:
        said = _SAID_LETTER.findall(answer)
        given = said[-1].upper() if said else None
    return given == m.group(1).upper()


def _auto(answer: str, reference: str) -> bool:
    ref = reference.strip()
    if _NUMERIC.fullmatch(ref):
        return _number(answer, ref)
    if _LETTER.fullmatch(ref):
        return _choice(answer, ref)
    return _contains(answer, ref)


#: How an answer is compared with the reference (each returns right or wrong).
SCORERS: dict[str, Callable[[str, str], bool]] = {
    "auto": _auto, "exact": _exact, "contains": _contains, "number": _number, "choice": _choice}


def score_answer(answer: str, reference: str, how: str = "auto") -> float:
    """1.0 when ``answer`` gives ``reference`` by scorer ``how`` (see :data:`SCORERS`), else 0.0."""
    if how not in SCORERS:
        raise ValueError(f"unknown scorer {how!r}; expected one of {sorted(SCORERS)}")
    return float(SCORERS[how](answer, reference))


def _question(where: str, rec: dict[str, Any], problems: list[Problem]) -> Question | None:
    """The question of one JSON line (its id: ``prompt_id``, else a hash of the prompt); None, with a
    problem added, when its prompt or reference is missing."""
    prompt, reference = rec.get("prompt"), rec.get("reference")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(Problem(f"{where}: prompt", "expected a non-empty string"))
        return None
    if isinstance(reference, bool) or not isinstance(reference, str | int | float) or not str(reference).strip():
        problems.append(Problem(f"{where}: reference", "missing: the answer expected (a string or a number)"))
        return None
    pid = str(rec.get("prompt_id") or "q-" + hashlib.sha256(prompt.encode()).hexdigest()[:12])
    return Question(pid, prompt, str(reference), str(rec.get("task") or "default"))


def read_questions(path: str | Path) -> list[Question]:
    """Questions from a JSONL file; every bad line is reported at once, by file and line."""
    path = Path(path)
    problems: list[Problem] = []
    questions: list[Question] = []
    first: dict[str, int] = {}
    for lineno, where, rec in jsonl_objects(path, problems):
        q = _question(where, rec, problems)
        if q is None:
            continue
        if q.prompt_id in first:
            what = "prompt_id" if rec.get("prompt_id") else "prompt (and no prompt_id)"
            problems.append(Problem(where, f"the same {what} as line {first[q.prompt_id]}; give each question once"))
            continue
        first[q.prompt_id] = lineno
        questions.append(q)
    if not questions and not problems:
        problems.append(Problem(path.name, 'no questions (expected JSON lines {"prompt", "reference"})'))
    raise_problems(problems, path)
    return questions


def _recorded(path: Path, questions: Sequence[Question]) -> set[tuple[str, str]]:
    """The prompt x model pairs an existing outcome file holds; refuses a file that disagrees with
    the questions, rather than mixing two question sets in one table."""
    if not path.exists():
        return set()
    prompts = {q.prompt_id: q.prompt for q in questions}
    done: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    for _, where, rec in jsonl_objects(path, problems):
        pid, model, prompt = rec.get("prompt_id"), rec.get("model"), rec.get("prompt")
        if pid is None or model is None or not isinstance(prompt, str):
            problems.append(Problem(where, "not an outcome line (prompt_id, prompt, model, score); is this the "
                                           "right output file?"))
            continue
        pid = str(pid)
        if pid in prompts and prompts[pid] != prompt:
            problems.append(Problem(where, f"prompt_id {pid!r} has another prompt in the questions file; "
                                           "record to a new file"))
        done.add((pid, str(model)))
    raise_problems(problems, path)
    return done


async def record_outcomes(client: Client, questions: Sequence[Question], roles: Sequence[str], path: str | Path,
                          *, scorer: str = "auto", concurrency: int = 4,
                          prices: Mapping[str, tuple[float, float]] | None = None,
                          on_line: Callable[[dict[str, Any]], None] | None = None, **call_kwargs: Any) -> RecordSummary:
    """Ask every role every question not yet in ``path``; append one scored outcome line per answer.

    The outcome's ``model`` is the role, so a router fitted on the file chooses among these roles
    (``{role: auto, router: ..., candidates: [...]}``); ``model_used`` says which model answered.
    The cost is the call's own (from the config's prices; left out when unknown), unless ``prices``
    (USD per 1M input / output tokens, by role or by ``provider/model``) prices the role: local
    models cost nothing per call, and a nominal price is how a router learns to weigh them.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; expected one of {sorted(SCORERS)}")
    path = Path(path)
    done = _recorded(path, questions)
    pairs = [(q, r) for q in questions for r in roles if (q.prompt_id, r) not in done]
    summary = RecordSummary(skipped=len(questions) * len(roles) - len(pairs))
    gate = asyncio.Semaphore(max(1, concurrency))
    with ExitStack() as files:
        out: TextIO | None = None  # opened at the first answer: a run where every call fails writes nothing

        async def one(q: Question, role: str) -> None:
            async with gate:
                try:
                    result = await client.acall(role, q.prompt, **call_kwargs)
                except TierflowError as exc:
                    summary.failed.append((q.prompt_id, role, f"{type(exc).__name__}: {exc}"))
                    return
            rec: dict[str, Any] = {
                "prompt_id": q.prompt_id, "prompt": q.prompt, "model": role, "task": q.task,
                "score": score_answer(result.text, q.reference, scorer), "response": result.text,
                "reference": q.reference, "model_used": result.model_used,
                "input_tokens": result.usage.input_tokens, "output_tokens": result.usage.output_tokens,
                "latency_s": round(result.latency_s, 4)}
            price = (prices or {}).get(role) or (prices or {}).get(result.model_used)
            if price is not None:
                rec["cost"] = (result.usage.input_tokens * price[0] + result.usage.output_tokens * price[1]) / 1e6
            elif result.cost_usd is not None:
                rec["cost"] = result.cost_usd
            nonlocal out
            if out is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                out = files.enter_context(path.open("a", encoding="utf-8"))
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")  # one whole line per write
            out.flush()
            summary.recorded += 1
            if on_line is not None:
                on_line(rec)

        await asyncio.gather(*(one(q, r) for q, r in pairs))
    return summary


__all__ = ["SCORERS", "Question", "RecordSummary", "read_questions", "record_outcomes", "score_answer"]
