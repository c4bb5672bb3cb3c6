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


def read_wide_csv(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """RouterBench (``<model>``, ``<model>|model_response``, ``<model>|total_cost``) or RouteLLM
    (one correctness column per model, optional ``<model>_response``) wide CSVs."""
    path = Path(path)
    prices = DEFAULT_PRICES if prices is None else prices
    csv.field_size_limit(10**9)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    if "prompt" not in header:
        raise RoutingError([Problem(f"{path.name}: header", "no 'prompt' column; expected a wide outcome "
                                    "table (prompt, one score column per model)")], source=str(path))
    meta = {"", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to", "prompt_id", "task", "id"}
    models = [h for h in header if h not in meta and "|" not in h and not h.endswith("_response")
              and not h.startswith("Unnamed")]
    if not models:
        raise RoutingError([Problem(f"{path.name}: header", "no model columns (expected one score column "
                                    f"per model besides {sorted(meta - {''})})")], source=str(path))
    resp_col = {m: c for m in models for c in (f"{m}|model_response", f"{m}_response") if c in header}
    cost_col = {m: f"{m}|total_cost" for m in models if f"{m}|total_cost" in header}
    default_task = path.stem.removesuffix("_train").removesuffix("_responses")
    problems: list[Problem] = []
    ids, prompts, tasks = [], [], []
    scores = np.full((len(rows), len(models)), np.nan)
    costs = np.full((len(rows), len(models)), np.nan)
    responses: list[list[str | None]] = []
    derived: set[str] = set()
    missing_scores = 0
    for i, row in enumerate(rows):
        line = i + 2  # header is line 1
        prompt = _join_listish(row.get("prompt") or "")
        if not prompt.strip():
            problems.append(Problem(f"{path.name}:{line}: prompt", "prompt is missing or empty"))
        ids.append(row.get("sample_id") or row.get("prompt_id") or f"{path.stem}:{i}")
        prompts.append(prompt)
        tasks.append(row.get("eval_name") or row.get("task") or default_task)
        resp_row: list[str | None] = []
        for j, m in enumerate(models):
            scores[i, j] = parse_score(row.get(m), f"{path.name}:{line}: column {m!r}", problems)
            response = _join_listish(row[resp_col[m]]) if m in resp_col else None
            resp_row.append(response)
            raw_cost = (row.get(cost_col[m]) or "").strip() if m in cost_col else ""
            if raw_cost:
                try:
                    costs[i, j] = float(raw_cost)
                except ValueError:
                    problems.append(Problem(f"{path.name}:{line}: column {cost_col[m]!r}",
                                            f"cost {raw_cost[:30]!r} is not a number"))
            else:
                c = derive_cost(m, prompt, response, prices)
                if c is not None:
                    costs[i, j] = c
                    derived.add(m)
        responses.append(resp_row)
        missing_scores += int(np.isnan(scores[i]).sum())
    raise_problems(problems, path)
    notes = []
    if missing_scores:
        scores = np.nan_to_num(scores, nan=0.0)
        notes.append(f"{path.name}: {missing_scores} empty score cells counted as wrong (0)")
    for m in sorted(derived):
        notes.append(price_note(path.name, m, prices, f"tokens estimated as ceil(chars/4) (output "
                                                    f"{ASSUMED_OUTPUT_TOKENS} tokens when no response was recorded)"))
    return OutcomeTable(ids, prompts, tasks, models, scores, costs,
                        responses if resp_col else None, notes)


def read_scores_json(path: str | Path, *, prices: Mapping[str, tuple[float, float]] | None = None) -> OutcomeTable:
    """RouterDC's JSON: a list of ``{"question", "scores": {model: score}}``; no costs are recorded,
    so they are derived for the models that have a price (prompt tokens + an assumed short answer)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not data:
        raise RoutingError([Problem(path.name, "expected a non-empty JSON list of {question, scores}")],
                           source=str(path))
    models: list[str] = []
    for item in data:
        for m in (item.get("scores") or {}) if isinstance(item, dict) else ():
            if m not in models:
                models.append(m)
    if not models:
        raise RoutingError([Problem(f"{path.name}: scores", "no model scores found")], source=str(path))
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
    task = path.stem.removesuffix("_train").removesuffix("-train")
    prices = DEFAULT_PRICES if prices is None else prices
    costs = np.full_like(scores, np.nan)
    notes = []
    missing = []
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
