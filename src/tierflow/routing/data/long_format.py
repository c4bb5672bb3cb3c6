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


class _LongReader:
    """Builds an :class:`OutcomeTable` from long-format records, collecting every problem."""

    def __init__(self, path: Path, prices: Mapping[str, tuple[float, float]]) -> None:
        self.path, self.prices = path, prices
        self.problems: list[Problem] = []
        self.order: dict[str, int] = {}  # prompt_id -> row
        self.prompts: list[str] = []
        self.tasks: list[str] = []
        self.models: list[str] = []
        self.cells: dict[tuple[int, int], tuple[float, float, str | None]] = {}
        self.derived: set[str] = set()  # models whose cost was derived from a price
        self.first_line: dict[str, int] = {}
        self.seen: dict[tuple[str, str], int] = {}

    def _fields_ok(self, where: str, rec: dict[str, Any]) -> bool:
        """Whether the record has every required field (else a problem is added)."""
        missing = [k for k in ("prompt_id", "prompt", "model", "score") if rec.get(k) in (None, "")]
        if missing == ["score"] and "score" in rec:
            self.problems.append(Problem(f"{where}: score", f"score is {json.dumps(rec['score'])}; a number in "
                                         "[0, 1] is expected (score a failed call 0; leave the line out if not "
                                         "recorded)"))
        elif missing:
            self.problems.append(Problem(where, f"missing required field(s) {missing}"))
        return not missing

    def _row(self, lineno: int, where: str, pid: str, rec: dict[str, Any]) -> int | None:
        """The row of ``pid`` (a new one at its first line); None when its prompt differs from the first."""
        if pid not in self.order:
            self.order[pid] = len(self.prompts)
            self.prompts.append(str(rec["prompt"]))
            self.tasks.append(str(rec.get("task") or "default"))
            self.first_line[pid] = lineno
        elif str(rec["prompt"]) != self.prompts[self.order[pid]]:
            self.problems.append(Problem(f"{where}: prompt", f"prompt_id {pid!r} has a different prompt on line "
                                                             f"{self.first_line[pid]}; give each prompt its own id"))
            return None
        return self.order[pid]

    def _first_outcome(self, lineno: int, where: str, pid: str, model: str) -> bool:
        """Whether this is the first line of ``model`` on ``pid`` (a second one is a problem)."""
        if (pid, model) in self.seen:
            self.problems.append(Problem(where, f"a second outcome of {model!r} on prompt_id {pid!r} (the first is "
                                                f"on line {self.seen[(pid, model)]}); record one line per prompt x "
                                                "model (average repeated trials into one score)"))
            return False
        self.seen[(pid, model)] = lineno
        return True

    def _cost(self, where: str, model: str, rec: dict[str, Any]) -> float:
        """The recorded cost, or one derived from the model's price (NaN when neither is known)."""
        cost = rec.get("cost")
        if cost is None:
            cost = derive_cost(model, str(rec["prompt"]), rec.get("response"), self.prices,
                               rec.get("input_tokens"), rec.get("output_tokens"))
            if cost is not None:
                self.derived.add(model)
        elif not isinstance(cost, (int, float)) or cost < 0:
            self.problems.append(Problem(f"{where}: cost", f"{cost!r} is not a non-negative number (USD)"))
            cost = None
        return math.nan if cost is None else float(cost)

    def add(self, lineno: int, where: str, rec: dict[str, Any]) -> None:
        """Read one record (line ``lineno``, located as ``where``)."""
        if not self._fields_ok(where, rec):
            return
        score = parse_score(rec["score"], f"{where}: score", self.problems)
        pid, model = str(rec["prompt_id"]), str(rec["model"])
        row = self._row(lineno, where, pid, rec)
        if row is None or not self._first_outcome(lineno, where, pid, model):
            return
        if model not in self.models:
            self.models.append(model)
        self.cells[(row, self.models.index(model))] = (score, self._cost(where, model, rec), rec.get("response"))

    def table(self) -> OutcomeTable:
        """The table read, or every problem found as one RoutingError."""
        if not self.prompts and not self.problems:
            self.problems.append(Problem(self.path.name, "no outcome records (expected JSON lines with prompt_id, "
                                                         "prompt, model, score)"))
        raise_problems(self.problems, self.path)
        n, m = len(self.prompts), len(self.models)
        scores, costs = np.full((n, m), np.nan), np.full((n, m), np.nan)
        responses: list[list[str | None]] = [[None] * m for _ in range(n)]
        for (i, j), (s, c, r) in self.cells.items():
            scores[i, j], costs[i, j], responses[i][j] = s, c, r
        notes = [price_note(self.path.name, mm, self.prices, "token counts (estimated as ceil(chars/4) where not "
                                                             "given)") for mm in sorted(self.derived)]
        return OutcomeTable(list(self.order), self.prompts, self.tasks, self.models, scores, costs, responses, notes)


def read_long_jsonl(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """tierflow's long format (see the module docstring)."""
    path = Path(path)
    reader = _LongReader(path, DEFAULT_PRICES if prices is None else prices)
    for lineno, where, rec in jsonl_objects(path, reader.problems):
        reader.add(lineno, where, rec)
    return reader.table()


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
