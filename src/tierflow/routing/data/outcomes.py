"""Recorded outcomes: which model answered which prompt how well, at what cost.

An :class:`OutcomeTable` is the one in-memory shape every router and metric reads: ``n``
prompts x ``m`` models, with a score in [0, 1] (NaN = not recorded), a cost in USD, and the
model's response text when the source recorded it. Readers (:mod:`tierflow.routing.data.formats`)
exist for the formats of the public router datasets and for tierflow's own long format (JSONL,
one line per prompt x model)::

    {"prompt_id": "q1", "prompt": "2+2?", "model": "openai/gpt-4o", "score": 1.0,
     "cost": 0.00012, "task": "math", "response": "4", "input_tokens": 12,
     "output_tokens": 1, "latency_s": 0.8}

``prompt_id``, ``prompt``, ``model`` and ``score`` are required; ``cost`` may be left out when
the model has a price (:func:`price_of`: :data:`DEFAULT_PRICES`, a ``--prices`` file, then
genai-prices by model name), and is then derived from token counts (given, or estimated as
``ceil(chars / 4)``); every derivation, and the price's source, is recorded in ``notes``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.pricing import price_by_name

#: USD per 1M tokens (input, output) for models the public outcome tables name without a cost.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-1106-preview": (10.0, 30.0),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.24, 0.24),
}
#: Output tokens assumed when neither a response nor a token count was recorded.
ASSUMED_OUTPUT_TOKENS = 8


@dataclass
class OutcomeTable:
    """Per-prompt outcomes of ``m`` models on ``n`` prompts (rows align across all fields)."""

    ids: list[str]
    prompts: list[str]
    tasks: list[str]
    models: list[str]
    scores: np.ndarray  # (n, m) float in [0, 1]; NaN where not recorded
    costs: np.ndarray  # (n, m) float USD; NaN where unknown
    responses: list[list[str | None]] | None = None  # (n, m) or None when none was recorded
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, m = len(self.ids), len(self.models)
        if self.scores.shape != (n, m) or self.costs.shape != (n, m):
            raise ValueError(f"scores {self.scores.shape} / costs {self.costs.shape} do not match "
                             f"{n} prompts x {m} models")

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def has_responses(self) -> bool:
        return self.responses is not None and any(r is not None for row in self.responses for r in row)

    def subset(self, rows: Sequence[int] | np.ndarray) -> OutcomeTable:
        """The table restricted to ``rows`` (indices, in that order)."""
        idx = np.asarray(rows, dtype=int)
        return OutcomeTable(
            ids=[self.ids[i] for i in idx], prompts=[self.prompts[i] for i in idx],
            tasks=[self.tasks[i] for i in idx], models=list(self.models),
            scores=self.scores[idx], costs=self.costs[idx],
            responses=None if self.responses is None else [self.responses[i] for i in idx],
            notes=list(self.notes))

    def complete_rows(self) -> np.ndarray:
        """Indices of the prompts with a recorded score for every model."""
        return np.nonzero(~np.isnan(self.scores).any(axis=1))[0]

    def response(self, row: int, model: int) -> str | None:
        return None if self.responses is None else self.responses[row][model]


def column_means(x: np.ndarray) -> np.ndarray:
    """Per-column mean of the known (non-NaN) cells; NaN for a column with none (without numpy's warning)."""
    known = ~np.isnan(x)
    total = np.where(known, x, 0.0).sum(0)
    count = known.sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _union_models(tables: Sequence[OutcomeTable]) -> list[str]:
    """Every model of any table, in first-seen order."""
    models: list[str] = []
    for t in tables:
        models += [m for m in t.models if m not in models]
    return models


def _widened(t: OutcomeTable, models: list[str]) -> tuple[np.ndarray, np.ndarray, list[list[str | None]]]:
    """``t``'s scores, costs and responses over the columns ``models`` (NaN / None where it has no column)."""
    cols = [models.index(m) for m in t.models]
    s, c = np.full((t.n, len(models)), np.nan), np.full((t.n, len(models)), np.nan)
    s[:, cols], c[:, cols] = t.scores, t.costs
    responses: list[list[str | None]] = []
    for i in range(t.n):
        row: list[str | None] = [None] * len(models)
        for j, cj in enumerate(cols):
            row[cj] = t.response(i, j)
        responses.append(row)
    return s, c, responses


def _joined(tables: Sequence[OutcomeTable], field_name: str) -> list[Any]:
    """One list field of every table, end to end."""
    return [x for t in tables for x in getattr(t, field_name)]


def concat(tables: Sequence[OutcomeTable]) -> OutcomeTable:
    """Stack tables row-wise over the union of their models (NaN where a model is absent)."""
    if len(tables) == 1:
        return tables[0]
    models = _union_models(tables)
    scores, costs, responses = zip(*(_widened(t, models) for t in tables))
    any_resp = any(t.responses is not None for t in tables)
    return OutcomeTable(ids=_joined(tables, "ids"), prompts=_joined(tables, "prompts"), tasks=_joined(tables, "tasks"),
                        models=models, scores=np.vstack(scores), costs=np.vstack(costs),
                        responses=[r for rows in responses for r in rows] if any_resp else None,
                        notes=list(dict.fromkeys(_joined(tables, "notes"))))


# --- helpers -----------------------------------------------------------------------------------


def estimate_tokens(text: str | None) -> int:
    """A provider-neutral token estimate: one token per 4 characters (rounded up)."""
    return 0 if not text else math.ceil(len(text) / 4)


def price_of(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float, str] | None:
    """``(input, output, where from)`` USD per 1M tokens: ``prices`` (the built-in table and any
    ``--prices`` file) first, then the maintained genai-prices data by model name; None if neither
    knows the model."""
    if model in prices:
        return (*prices[model], "the price table")
    return price_by_name(model)


def price_note(source: str, model: str, prices: Mapping[str, tuple[float, float]], tokens: str) -> str:
    """The note saying a model's cost was derived, from which price, and how its tokens were counted."""
    found = price_of(model, prices)
    assert found is not None, model
    inp, out, where = found
    return (f"{source}: cost of {model} derived from its price ({inp:g}, {out:g}) USD/1M tokens in/out "
            f"(from {where}) and {tokens}")


def unpriced_models(table: OutcomeTable) -> list[str]:
    """Models with no known cost on any prompt, when other models' costs are known."""
    none = np.isnan(table.costs).all(axis=0)
    return [m for m, unknown in zip(table.models, none, strict=True) if unknown] if not none.all() else []


def check_priced(table: OutcomeTable, where: str) -> None:
    """Refuse a table where some models have costs and another has none: nothing says what the
    unpriced one costs, so routes cannot be compared (a table with no costs at all is routed by
    quality alone)."""
    unpriced = unpriced_models(table)
    if unpriced:
        priced = [m for m in table.models if m not in unpriced]
        raise RoutingError([Problem(where, (
            f"no cost recorded and no price known for {unpriced}, while {priced} have costs, so routes "
            "cannot be compared by cost; record a cost per call, or give the price with --prices FILE "
            "(model: [input, output] USD per 1M tokens; [0, 0] for a free model)"))])


def free_as_costless(table: OutcomeTable) -> OutcomeTable:
    """A table whose every recorded cost is 0 (free models, such as local ones) has nothing to
    trade quality against: it is routed by quality alone, as a table without costs, and a note says so."""
    known = table.costs[~np.isnan(table.costs)]
    if known.size == 0 or np.any(known != 0):
        return table
    note = ("every recorded cost is 0 (free models, such as local ones): routes are compared by quality alone; "
            "record them with nominal prices (route record --prices) to trade quality against cost")
    return replace(table, costs=np.full_like(table.costs, np.nan), notes=[*table.notes, note])


def derive_cost(model: str, prompt: str, response: str | None, prices: Mapping[str, tuple[float, float]],
                input_tokens: int | None = None, output_tokens: int | None = None) -> float | None:
    """USD cost of one call from :func:`price_of`; None when the model has no price."""
    price = price_of(model, prices)
    if price is None:
        return None
    tin = input_tokens if input_tokens is not None else estimate_tokens(prompt)
    if output_tokens is None:
        output_tokens = estimate_tokens(response) if response else ASSUMED_OUTPUT_TOKENS
    return (tin * price[0] + output_tokens * price[1]) / 1e6


def _price_pair(value: object) -> tuple[float, float] | None:
    """``[input, output]`` or ``{input, output}`` as two non-negative numbers; None when it is not that."""
    pair = [value.get("input"), value.get("output")] if isinstance(value, dict) else value
    if not isinstance(pair, list | tuple) or len(pair) != 2 \
            or not all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in pair):
        return None
    return float(pair[0]), float(pair[1])


def read_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """A price file for models an outcome table records no cost for: JSON or YAML mapping each
    model to ``[input, output]`` or ``{input: ..., output: ...}``, USD per 1M tokens. The result
    extends :data:`DEFAULT_PRICES`. Read with the safe loader that refuses alias bombs."""
    import yaml

    from tierflow._yaml import load_yaml

    path = Path(path)
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RoutingError([Problem(str(path), f"cannot read the price file: {exc}")], source=str(path)) from None
    if not isinstance(raw, dict) or not raw:
        raise RoutingError([Problem(str(path), "expected a mapping of model -> [input, output] USD per 1M tokens")],
                           source=str(path))
    prices, problems = dict(DEFAULT_PRICES), []
    for model, value in raw.items():
        pair = _price_pair(value)
        if pair is None:
            problems.append(Problem(f"{path.name}: {model}", f"expected [input, output] USD per 1M tokens "
                                                             f"(two non-negative numbers), got {value!r}"))
        else:
            prices[str(model)] = pair
    if problems:
        raise RoutingError(problems, source=str(path))
    return prices


#: The most problems one file's error lists (the rest are counted).
MAX_ERRORS = 20


def parse_score(raw: object, where: str, problems: list[Problem]) -> float:
    """A recorded score: a number in [0, 1] or true/false (NaN when empty); a bad one is added to
    ``problems``, naming ``where``."""
    if raw is None or raw == "":
        return math.nan
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    text = str(raw).strip()
    if text.lower() in ("true", "false"):
        return 1.0 if text.lower() == "true" else 0.0
    try:
        value = float(text)
    except ValueError:
        problems.append(Problem(where, f"score {text[:40]!r} is not a number in [0, 1] or true/false"))
        return math.nan
    if not 0.0 <= value <= 1.0:
        problems.append(Problem(where, f"score {value} is outside [0, 1]"))
    return value


def raise_problems(problems: list[Problem], path: Path) -> None:
    """Raise every problem found in ``path`` at once (up to :data:`MAX_ERRORS`), if there are any."""
    if problems:
        extra = len(problems) - MAX_ERRORS
        shown = problems[:MAX_ERRORS] + ([Problem("", f"... and {extra} more")] if extra > 0 else [])
        raise RoutingError(shown, source=str(path))
