"""How ``intelligence``, ``coding`` and ``math`` (0-100) are derived from benchmarks and Arena Elo.

Benchmarks are percentages, but no model has all of them, and the missing ones are not random
(new models skip old easy tests, small ones skip hard tests). A plain mean of what is present
would flatter a model scored only on easy tests. So we fit the additive model

    score[model, bench] ~ ability[model] + offset[bench]

over every model at once (alternating means, a few dozen sweeps) and report
``ability + mean(offset)``: the model's expected mean over the *whole* index. With complete data
this is exactly the plain mean, which is how Artificial Analysis' index (the scale of the role
requirements' thresholds, e.g. orchestrator intelligence >= 55) is built.

Models with too few benchmarks get a prediction from Arena Elo: a least-squares line fitted on
the models that have both, in the same build. Everything is clamped to 0-100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScoreIndex:
    """One derived 0-100 column: the benchmarks averaged and the minimum present to use them."""

    column: str
    benchmarks: tuple[str, ...]
    min_present: int
    elo_category: str  # Arena leaderboard page used when benchmarks are too few


INDEXES: tuple[ScoreIndex, ...] = (
    ScoreIndex("intelligence", ("MMLU-Pro", "GPQA", "HLE", "AIME-2025", "LiveCodeBench", "SciCode",
                                "IFBench", "Tau2-bench"), 2, "text/overall"),
    ScoreIndex("coding", ("LiveCodeBench", "SciCode", "SWE-bench-Pro"), 1, "text/coding"),
    ScoreIndex("math", ("AIME-2024", "AIME-2025", "GPQA"), 1, "text/math"),
)

_SWEEPS = 50


def _clamp(x: float) -> float:
    return max(0.0, min(100.0, x))


def additive_index(scores: Mapping[str, Mapping[str, float | None]], benchmarks: Sequence[str],
                   min_present: int) -> dict[str, float]:
    """``{model: {bench: score}}`` -> ``{model: index}`` for models with >= ``min_present`` scores."""
    obs = {m: {b: float(v) for b, v in s.items() if b in benchmarks and v is not None}
           for m, s in scores.items()}
    obs = {m: s for m, s in obs.items() if len(s) >= min_present}
    if not obs:
        return {}
    ability = {m: sum(s.values()) / len(s) for m, s in obs.items()}
    offset = {b: 0.0 for b in benchmarks}
    for _ in range(_SWEEPS):
        for b in benchmarks:
            resid = [s[b] - ability[m] for m, s in obs.items() if b in s]
            offset[b] = sum(resid) / len(resid) if resid else 0.0
        present = [b for b in benchmarks if any(b in s for s in obs.values())]
        mean_off = sum(offset[b] for b in present) / len(present)
        for b in present:  # pin the offsets' mean to 0 so ability is on the benchmarks' scale
            offset[b] -= mean_off
        for m, s in obs.items():
            ability[m] = sum(v - offset[b] for b, v in s.items()) / len(s)
    return {m: round(_clamp(a), 1) for m, a in ability.items()}


def fit_line(pairs: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares ``y = a*x + b`` over ``(x, y)`` pairs; None with fewer than 3 or no spread."""
    if len(pairs) < 3:
        return None
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    if sxx == 0:
        return None
    a = sum((x - mx) * (y - my) for x, y in pairs) / sxx
    return a, my - a * mx


def predict(line: tuple[float, float], x: float) -> float:
    """The line's value at ``x``, clamped to 0-100 and rounded to one decimal."""
    a, b = line
    return round(_clamp(a * x + b), 1)


__all__ = ["INDEXES", "ScoreIndex", "additive_index", "fit_line", "predict"]
