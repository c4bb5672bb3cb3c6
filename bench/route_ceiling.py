"""How far cascades that read only the models' answers can go on a table, chosen in hindsight.

    .venv/bin/python bench/route_ceiling.py [--data DIR] [--max-set 3] [--budget 0.4] [--json]

A ceiling, not a router: it reads the training part of the table only (the held-out split is never
read) and picks every choice on the same rows it scores, so each figure is optimistic. Per task,
the policies may:

- ``singles``: send every prompt of the task to one model;
- ``unanimous``: consult a set of cheap models (up to ``--max-set``; cheap: under 15 % of the
  strongest model's cost) and accept their answer when all of them give the same one, else ask
  the strongest model (every model consulted is charged); code answers agree by behaviour, as in
  the cascade router;
- ``pattern``: consult such a set and, for each pattern of answers it gives, return the response
  that was right most often on the rows showing that pattern, or escalate to the strongest model
  where that gains most per dollar. A lookup table fitted on the rows it is scored on: it bounds
  any rule that reads only the consulted answers, and it overfits;
- ``pattern_oof``: the same lookup, its set and table chosen on four fifths of each task's rows
  and scored on the other fifth (pseudo-counts pull small patterns toward the set's mean): what
  the lookup is worth on prompts it has not seen.

Tasks are combined with one trade-off for all of them, which traces the upper hull of the table's
cost-quality points (what AIQ measures). Reported per family: AIQ (as ``route eval`` computes it),
the quality at ``--budget`` x the strongest model's cost, and the lowest share of its cost at
which the hull reaches its quality (null if never).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from tierflow.routing.curves import aiq, anchored_hull
from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.data.split import select
from tierflow.routing.routers.cascade.features import Context

Points = list[tuple[float, float]]  # (summed cost, summed score) of one task's rows


def _answers(ctx: Context, i: int, stages: list[int]) -> tuple[str, ...]:
    found = ctx.answers_for(i, stages)
    return tuple(found[j] if found[j] is not None else f"\0{j}" for j in stages)  # no answer agrees with nothing


def task_options(ctx: Context, strong: int, cheap: list[int], max_set: int) -> dict[str, Points]:
    """Per policy family, the (cost, score) points one task's rows can reach."""
    out: dict[str, Points] = {"singles": [(float(ctx.costs[:, j].sum()), float(ctx.scores[:, j].sum()))
                                          for j in range(ctx.scores.shape[1])]}
    out["unanimous"], out["pattern"] = list(out["singles"]), list(out["singles"])
    for size in range(1, max_set + 1):
        for group in itertools.combinations(cheap, size):
            stages = list(group)
            ctx.prefetch(stages)
            rows: dict[tuple[str, ...], list[int]] = defaultdict(list)
            for i in range(ctx.table.n):
                rows[_answers(ctx, i, stages)].append(i)
            asked = float(ctx.costs[:, stages].sum())
            agree = [i for p, ids in rows.items() if len(set(p)) == 1 for i in ids]
            rest = np.setdiff1d(np.arange(ctx.table.n), agree)
            out["unanimous"].append((asked + float(ctx.costs[rest, strong].sum()),
                                     float(ctx.scores[agree, stages[0]].sum() + ctx.scores[rest, strong].sum())))
            # pattern lookup: start from the best consulted response per pattern, escalate by gain per dollar
            items = []
            for ids in rows.values():
                keep = max(float(ctx.scores[ids, j].sum()) for j in stages)
                lift = max(float(ctx.scores[ids, j].sum()) for j in stages + [strong]) - keep
                items.append((keep, lift, float(ctx.costs[ids, strong].sum())))
            cost, score = asked, sum(k for k, _, _ in items)
            out["pattern"].append((cost, score))
            for _, lift, extra in sorted(items, key=lambda x: -x[1] / max(x[2], 1e-12)):
                if lift <= 0:
                    break
                cost, score = cost + extra, score + lift
                out["pattern"].append((cost, score))
    return out


def pattern_out_of_fold(ctx: Context, strong: int, cheap: list[int], max_set: int, lams: np.ndarray,
                        folds: int = 5, pseudo: float = 2.0) -> np.ndarray:
    """Per trade-off lambda, the (cost, score) sums the lookup reaches on rows outside its fit."""
    n = ctx.table.n
    fold = np.arange(n) % folds
    unit = float(ctx.costs.mean())
    sets, codes = [], []
    for size in range(1, max_set + 1):
        for group in itertools.combinations(cheap, size):
            ctx.prefetch(list(group))
            seen: dict[tuple[str, ...], int] = {}
            codes.append(np.array([seen.setdefault(_answers(ctx, i, list(group)), len(seen)) for i in range(n)]))
            sets.append(list(group))
    out = np.zeros((len(lams), 2))
    for f in range(folds):
        fit, test = fold != f, fold == f
        best: list[tuple[float, int, np.ndarray]] = [(-np.inf, -1, np.zeros(0))] * len(lams)
        for s, (stages, code) in enumerate(zip(sets, codes)):
            k = code.max() + 1
            count = np.bincount(code[fit], minlength=k).astype(float)
            cols = stages + [strong]
            mean = ctx.scores[fit][:, cols].mean(0)
            sums = np.stack([np.bincount(code[fit], ctx.scores[fit, j], k) for j in cols], 1)
            q = (sums + pseudo * mean) / (count[:, None] + pseudo)  # per pattern, per consulted model + strong
            extra = float(ctx.costs[fit, strong].mean()) / unit
            keep = q[:, :-1].max(1)
            asked = float(ctx.costs[fit][:, stages].sum(1).mean()) / unit
            for li, lam in enumerate(lams):
                escalate = q[:, -1] - lam * extra > keep
                gain = count * np.where(escalate, q[:, -1] - lam * extra, keep)
                value = float(gain.sum()) - lam * asked * fit.sum()
                if value > best[li][0]:
                    pick = np.where(escalate, len(stages), q[:, :-1].argmax(1))
                    best[li] = (value, s, pick)
        for li, (_, s, pick) in enumerate(best):
            cols = sets[s] + [strong]
            rows = np.nonzero(test)[0]
            j = np.array(cols)[pick[codes[s][rows]]]
            out[li, 0] += ctx.costs[rows][:, sets[s]].sum() + ctx.costs[rows, strong][j == strong].sum()
            out[li, 1] += ctx.scores[rows, j].sum()
    return out


def combine(per_task: list[Points], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The upper hull of the table's mean (cost, quality) when every task takes the option that
    maximises score - lambda * cost, over a dense lambda grid."""
    cost, quality = [], []
    arrays = [np.array(p) for p in per_task]
    for lam in np.concatenate([[0.0], np.geomspace(1e-3, 1e5, 2000)]):
        pick = [a[np.argmax(a[:, 1] - lam * a[:, 0] - 1e-12 * a[:, 0])] for a in arrays]
        cost.append(sum(p[0] for p in pick) / n)
        quality.append(sum(p[1] for p in pick) / n)
    return np.array(cost), np.array(quality)


def ceiling(path: Path, max_set: int = 3, budget: float = 0.4) -> dict[str, object]:
    table = select(load_outcomes([path]), "train")
    table = table.subset(table.complete_rows())
    ctx = Context(table, np.zeros(table.scores.shape), verify=False)
    mq, mc = ctx.scores.mean(0), ctx.costs.mean(0)
    strong = int(np.lexsort((mc, -mq))[0])
    cheap = [j for j in range(len(table.models)) if mc[j] < 0.15 * mc[strong]]
    tasks = np.array(table.tasks)
    options = [task_options(Context.subset(ctx, np.nonzero(tasks == t)[0]), strong, cheap, max_set)
               for t in sorted(set(table.tasks))]
    out: dict[str, object] = {"prompts": table.n, "strong": table.models[strong],
                              "strong_quality": float(mq[strong]), "budget": budget}
    lams = np.concatenate([[0.0], np.geomspace(1e-4, 10, 60)])
    oof = sum(pattern_out_of_fold(Context.subset(ctx, np.nonzero(tasks == t)[0]), strong, cheap, max_set, lams)
              for t in sorted(set(table.tasks)))
    for family in ("singles", "unanimous", "pattern", "pattern_oof"):
        c, q = combine([o[family] for o in options], table.n) if family != "pattern_oof" else \
            (oof[:, 0] / table.n, oof[:, 1] / table.n)
        hc, hq = anchored_hull(c, q, float(mc.min()), float(mq[np.argmin(mc)]))
        reach = hc[hq >= mq[strong] - 1e-12]
        out[family] = {"aiq": aiq(c, q, float(mc.max()), (float(mc.min()), float(mq[np.argmin(mc)]))),
                       "quality_at_budget": float(np.interp(budget * mc[strong], hc, hq)),
                       "match_strong_cost_pct": float(100 * reach[0] / mc[strong]) if len(reach) else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "routing" / "routerbench")
    parser.add_argument("--max-set", type=int, default=3)
    parser.add_argument("--budget", type=float, default=0.4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = ceiling(args.data, args.max_set, args.budget)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['prompts']} training prompts; strongest model {result['strong']}, "
          f"quality {result['strong_quality']:.3f}")
    print(f"{'family':10} {'AIQ':>6} {'quality at ' + str(args.budget) + 'x cost':>22} {'matches it at':>14}")
    for family in ("singles", "unanimous", "pattern", "pattern_oof"):
        r = result[family]
        match = "never" if r["match_strong_cost_pct"] is None else f"{r['match_strong_cost_pct']:.1f} %"
        print(f"{family:10} {r['aiq']:6.3f} {r['quality_at_budget']:22.3f} {match:>14}")


if __name__ == "__main__":
    main()
