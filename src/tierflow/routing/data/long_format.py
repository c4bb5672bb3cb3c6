"""tierflow's long outcome format: JSON lines, one per prompt x model (see
:mod:`tierflow.routing.data.outcomes` for the fields), read with every bad line reported at once and
written atomically. :func:`jsonl_objects` is the JSON-lines reader ``route record`` shares.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tierflow._files import atomic_path
from tierflow.errors import Problem
from tierflow.routing.data.outcomes import (
    DEFAULT_PRICES,
    OutcomeTable,
    derive_cost,
    parse_score,
    price_note,
    raise_problems,
)


def jsonl_objects(path: Path, problems: list[Problem]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(line number, "file:line", object)`` for each JSON object line of ``path``; a line that is
    not one is added to ``problems`` (blank lines are skipped)."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(where, f"not valid JSON ({exc.msg})"))
                continue
            if not isinstance(rec, dict):
                problems.append(Problem(where, "expected a JSON object per line"))
                continue
            yield lineno, where, rec


def read_long_jsonl(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """tierflow's long format (see the module docstring)."""
    path = Path(path)
    prices = DEFAULT_PRICES if prices is None else prices
    problems: list[Problem] = []
    order: dict[str, int] = {}
    prompts: list[str] = []
    tasks: list[str] = []
    models: list[str] = []
    cells: dict[tuple[int, int], tuple[float, float, str | None]] = {}
    derived: set[str] = set()
    first_line: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    for lineno, where, rec in jsonl_objects(path, problems):
        missing = [k for k in ("prompt_id", "prompt", "model", "score") if rec.get(k) in (None, "")]
        if missing == ["score"] and "score" in rec:
            problems.append(Problem(f"{where}: score", f"score is {json.dumps(rec['score'])}; a number in "
                                    "[0, 1] is expected (score a failed call 0; leave the line out if not "
                                    "recorded)"))
            continue
        if missing:
            problems.append(Problem(where, f"missing required field(s) {missing}"))
            continue
        score = parse_score(rec["score"], f"{where}: score", problems)
        pid, model = str(rec["prompt_id"]), str(rec["model"])
        if pid not in order:
            order[pid] = len(prompts)
            prompts.append(str(rec["prompt"]))
            tasks.append(str(rec.get("task") or "default"))
            first_line[pid] = lineno
        elif str(rec["prompt"]) != prompts[order[pid]]:
            problems.append(Problem(f"{where}: prompt", f"prompt_id {pid!r} has a different prompt on line "
                                                        f"{first_line[pid]}; give each prompt its own id"))
            continue
        if (pid, model) in seen:
            problems.append(Problem(where, f"a second outcome of {model!r} on prompt_id {pid!r} (the first is "
                                           f"on line {seen[(pid, model)]}); record one line per prompt x "
                                           "model (average repeated trials into one score)"))
            continue
        seen[(pid, model)] = lineno
        if model not in models:
            models.append(model)
        cost = rec.get("cost")
        if cost is None:
            cost = derive_cost(model, str(rec["prompt"]), rec.get("response"), prices,
                               rec.get("input_tokens"), rec.get("output_tokens"))
            if cost is not None:
                derived.add(model)
        elif not isinstance(cost, (int, float)) or cost < 0:
            problems.append(Problem(f"{where}: cost", f"{cost!r} is not a non-negative number (USD)"))
            cost = None
        cells[(order[pid], models.index(model))] = (score, math.nan if cost is None else float(cost),
                                                    rec.get("response"))
    if not prompts and not problems:
        problems.append(Problem(path.name, "no outcome records (expected JSON lines with prompt_id, prompt, "
                                           "model, score)"))
    raise_problems(problems, path)
    n, m = len(prompts), len(models)
    scores, costs = np.full((n, m), np.nan), np.full((n, m), np.nan)
    responses: list[list[str | None]] = [[None] * m for _ in range(n)]
    for (i, j), (s, c, r) in cells.items():
        scores[i, j], costs[i, j], responses[i][j] = s, c, r
    notes = [price_note(path.name, mm, prices, "token counts (estimated as ceil(chars/4) where not given)")
             for mm in sorted(derived)]
    return OutcomeTable(list(order), prompts, tasks, models, scores, costs, responses, notes)


def _long_lines(table: OutcomeTable) -> Iterator[str]:
    """One JSON line per recorded prompt x model cell of ``table``."""
    for i in range(table.n):
        for j, model in enumerate(table.models):
            if math.isnan(table.scores[i, j]):
                continue
            rec: dict[str, object] = {"prompt_id": table.ids[i], "prompt": table.prompts[i], "model": model,
                                      "score": float(table.scores[i, j]), "task": table.tasks[i]}
            if not math.isnan(table.costs[i, j]):
                rec["cost"] = float(table.costs[i, j])
            if (r := table.response(i, j)) is not None:
                rec["response"] = r
            yield json.dumps(rec, ensure_ascii=False) + "\n"


def write_long_jsonl(table: OutcomeTable, path: str | Path) -> None:
    """Write ``table`` in the long format, atomically (:func:`tierflow._files.atomic_path`)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        fh.writelines(_long_lines(table))
