"""Reading outcome tables: RouterBench's wide CSV, RouterDC's scores JSON, tierflow's long JSONL
(:mod:`tierflow.routing.data.long_format`, which also writes it), and the dispatch by extension.

Every reader validates as it goes and reports all the problems of a file at once (up to
:data:`~tierflow.routing.data.outcomes.MAX_ERRORS`), each naming the file, row and column.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.data.long_format import read_long_jsonl, write_long_jsonl
from tierflow.routing.data.outcomes import (
    ASSUMED_OUTPUT_TOKENS,
    DEFAULT_PRICES,
    OutcomeTable,
    check_priced,
    concat,
    derive_cost,
    free_as_costless,
    parse_score,
    price_note,
    price_of,
    raise_problems,
)

__all__ = ["load_outcomes", "read_long_jsonl", "read_outcomes", "read_scores_json", "read_wide_csv",
           "write_long_jsonl"]


def _join_listish(cell: str) -> str:
    """RouterBench stores texts as a Python list literal of strings: join them."""
    cell = cell.strip()
    if cell.startswith("[") and cell.endswith("]"):
        try:
            value = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            return cell
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
    return cell


# --- readers -----------------------------------------------------------------------------------


_META_COLUMNS = {"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to", "prompt_id", "task", "id"}


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a CSV file whose cells may be very large."""
    csv.field_size_limit(10**9)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _wide_models(path: Path, header: list[str]) -> list[str]:
    """The score columns of a wide table (one per model), or a RoutingError naming the header."""
    if "prompt" not in header:
        raise RoutingError([Problem(f"{path.name}: header", "no 'prompt' column; expected a wide outcome "
                                    "table (prompt, one score column per model)")], source=str(path))
    models = [h for h in header if h not in _META_COLUMNS and "|" not in h and not h.endswith("_response")
              and not h.startswith("Unnamed")]
    if not models:
        raise RoutingError([Problem(f"{path.name}: header", "no model columns (expected one score column "
                                    f"per model besides {sorted(_META_COLUMNS - {''})})")], source=str(path))
    return models


class _WideReader:
    """Reads the rows of a wide table into arrays, collecting every problem."""

    def __init__(self, path: Path, header: list[str], n: int, prices: Mapping[str, tuple[float, float]]) -> None:
        self.path, self.prices = path, prices
        self.models = _wide_models(path, header)
        self.resp_col = {m: c for m in self.models for c in (f"{m}|model_response", f"{m}_response") if c in header}
        self.cost_col = {m: f"{m}|total_cost" for m in self.models if f"{m}|total_cost" in header}
        self.default_task = path.stem.removesuffix("_train").removesuffix("_responses")
        self.problems: list[Problem] = []
        self.ids: list[str] = []
        self.prompts: list[str] = []
        self.tasks: list[str] = []
        self.scores = np.full((n, len(self.models)), np.nan)
        self.costs = np.full((n, len(self.models)), np.nan)
        self.responses: list[list[str | None]] = []
        self.derived: set[str] = set()  # models whose cost was derived from a price

    def _cost(self, i: int, j: int, row: dict[str, str], line: int, response: str | None) -> None:
        """Cell (i, j)'s cost: the recorded one, else one derived from the model's price (left NaN otherwise)."""
        m = self.models[j]
        raw = (row.get(self.cost_col[m]) or "").strip() if m in self.cost_col else ""
        if not raw:
            c = derive_cost(m, self.prompts[i], response, self.prices)
            if c is not None:
                self.costs[i, j] = c
                self.derived.add(m)
            return
        try:
            self.costs[i, j] = float(raw)
        except ValueError:
            self.problems.append(Problem(f"{self.path.name}:{line}: column {self.cost_col[m]!r}",
                                         f"cost {raw[:30]!r} is not a number"))

    def add(self, i: int, row: dict[str, str]) -> None:
        """Read row ``i`` (line ``i + 2``: the header is line 1)."""
        line = i + 2
        prompt = _join_listish(row.get("prompt") or "")
        if not prompt.strip():
            self.problems.append(Problem(f"{self.path.name}:{line}: prompt", "prompt is missing or empty"))
        self.ids.append(row.get("sample_id") or row.get("prompt_id") or f"{self.path.stem}:{i}")
        self.prompts.append(prompt)
        self.tasks.append(row.get("eval_name") or row.get("task") or self.default_task)
        resp_row: list[str | None] = []
        for j, m in enumerate(self.models):
            self.scores[i, j] = parse_score(row.get(m), f"{self.path.name}:{line}: column {m!r}", self.problems)
            response = _join_listish(row[self.resp_col[m]]) if m in self.resp_col else None
            resp_row.append(response)
            self._cost(i, j, row, line, response)
        self.responses.append(resp_row)

    def table(self) -> OutcomeTable:
        """The table read (empty score cells count as wrong, with a note), or every problem as one error."""
        raise_problems(self.problems, self.path)
        notes = []
        missing_scores = int(np.isnan(self.scores).sum())
        scores = self.scores
        if missing_scores:
            scores = np.nan_to_num(scores, nan=0.0)
            notes.append(f"{self.path.name}: {missing_scores} empty score cells counted as wrong (0)")
        for m in sorted(self.derived):
            notes.append(price_note(self.path.name, m, self.prices, f"tokens estimated as ceil(chars/4) (output "
                                    f"{ASSUMED_OUTPUT_TOKENS} tokens when no response was recorded)"))
        return OutcomeTable(self.ids, self.prompts, self.tasks, self.models, scores, self.costs,
                            self.responses if self.resp_col else None, notes)


def read_wide_csv(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """RouterBench (``<model>``, ``<model>|model_response``, ``<model>|total_cost``) or RouteLLM
    (one correctness column per model, optional ``<model>_response``) wide CSVs."""
    path = Path(path)
    header, rows = _read_csv(path)
    reader = _WideReader(path, header, len(rows), DEFAULT_PRICES if prices is None else prices)
    for i, row in enumerate(rows):
        reader.add(i, row)
    return reader.table()


def _score_models(data: list[Any]) -> list[str]:
    """Every model named in any item's ``scores``, in first-seen order."""
    models: list[str] = []
    for item in data:
        for m in (item.get("scores") or {}) if isinstance(item, dict) else ():
            if m not in models:
                models.append(m)
    return models


def _score_rows(path: Path, data: list[Any], models: list[str]) -> tuple[list[str], np.ndarray]:
    """(prompts, scores) of the items, or every problem found as one RoutingError."""
    problems: list[Problem] = []
    scores = np.full((len(data), len(models)), np.nan)
    prompts = []
    for i, item in enumerate(data):
        q = item.get("question") if isinstance(item, dict) else None
        if not isinstance(q, str) or not q.strip():
            problems.append(Problem(f"{path.name}[{i}].question", "prompt is missing or empty"))
        prompts.append(q or "")
        for j, m in enumerate(models):
            scores[i, j] = parse_score((item.get("scores") or {}).get(m), f"{path.name}[{i}].scores.{m}",
                                        problems)
    raise_problems(problems, path)
    return prompts, scores


def _priced_costs(path: Path, models: list[str], prompts: list[str], prices: Mapping[str, tuple[float, float]]
                  ) -> tuple[np.ndarray, list[str]]:
    """Costs derived from the models' prices (NaN for a model without one), and notes saying so."""
    costs = np.full((len(prompts), len(models)), np.nan)
    notes, missing = [], []
    for j, m in enumerate(models):
        if price_of(m, prices) is None:
            missing.append(m)
            continue
        costs[:, j] = [derive_cost(m, q, None, prices) for q in prompts]
        notes.append(price_note(path.name, m, prices, f"prompt tokens estimated as ceil(chars/4) and "
                                                    f"{ASSUMED_OUTPUT_TOKENS} output tokens assumed"))
    if missing:
        notes.append(f"{path.name}: no costs recorded and no price for {', '.join(missing)}; cost-based metrics "
                     "need prices (route fit/eval --prices FILE)")
    return costs, notes


def read_scores_json(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """RouterDC's JSON: a list of ``{"question", "scores": {model: score}}``; no costs are recorded,
    so they are derived for the models that have a price (prompt tokens + an assumed short answer)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise RoutingError([Problem(path.name, "expected a non-empty JSON list of {question, scores}")],
                           source=str(path))
    models = _score_models(data)
    if not models:
        raise RoutingError([Problem(f"{path.name}: scores", "no model scores found")], source=str(path))
    prompts, scores = _score_rows(path, data, models)
    task = path.stem.removesuffix("_train").removesuffix("-train")
    costs, notes = _priced_costs(path, models, prompts, DEFAULT_PRICES if prices is None else prices)
    return OutcomeTable([f"{path.stem}:{i}" for i in range(len(data))], prompts, [task] * len(data), models,
                        scores, costs, None, notes)


def read_outcomes(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """Read one outcome file, choosing the reader by its extension (.csv, .json, .jsonl)."""
    path = Path(path)
    if not path.is_file():
        raise RoutingError([Problem(str(path), "no such file")])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_wide_csv(path, prices=prices)
    if suffix == ".jsonl":
        return read_long_jsonl(path, prices=prices)
    if suffix == ".json":
        return read_scores_json(path, prices=prices)
    raise RoutingError([Problem(str(path), f"unknown outcome format {suffix!r}; expected .csv (wide), "
                                           ".jsonl (long) or .json (question + scores)")])


def load_outcomes(paths: Sequence[str | Path], *, prices: Mapping[str, tuple[float, float]] | None = None
                  ) -> OutcomeTable:
    """Read and stack several outcome files (directories are expanded to the files they hold)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in (".csv", ".json", ".jsonl")
                            and "contaminated" not in f.name)
        else:
            files.append(p)
    if not files:
        raise RoutingError([Problem(", ".join(map(str, paths)) or "OUTCOMES", "no outcome files given")])
    table = concat([read_outcomes(f, prices=prices) for f in files])
    check_priced(table, ", ".join(map(str, files)))
    return free_as_costless(table)
