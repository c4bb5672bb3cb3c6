"""Which router kind to use on a table like yours: every kind on dev splits of five tables.

    .venv/bin/python bench/route_kinds.py [--data DIR] [--kinds knn,cluster,...] [--json]

The held-out split is never read: each table's training part is split again by a hash of the
prompt id (30 % dev; by the task name for ``mmlu-unseen``, whose held-out split is by subject),
each kind is fitted on the rest and evaluated on the dev prompts; ``auto`` (the default kind)
picks one of the others by its out-of-fold figure on the fit part alone. The figure is the one ``route eval`` leads
with for the table's shape: AIQ for tables with costs and more than two models, APGR for
two-model tables, and the best mean quality on the curve for tables without costs (RouterDC
records none). A quality check, not a timing. The summary gives each kind's mean rank and its
largest shortfall against the best kind of a table: a default kind should be close everywhere.
Runs in about three minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from route_generalisation import dev_split

from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.data.split import select
from tierflow.routing.fit.evaluate import evaluate_router
from tierflow.routing.fit.train import fit_router

KINDS = ("knn", "cluster", "linear", "task", "blend", "cascade", "auto")
TABLES = {  # name: (path under the data dir, split by)
    "routerbench": ("routerbench", "prompt"),
    "routerdc7": ("routerdc7", "prompt"),
    "gsm8k": ("routellm/gsm8k/gsm8k_responses.csv", "prompt"),
    "mmlu-seen": ("routellm/mmlu", "prompt"),
    "mmlu-unseen": ("routellm/mmlu", "task"),
}


def _figure(table: OutcomeTable) -> str:
    if len(table.models) == 2:
        return "apgr"
    return "max_quality" if np.isnan(table.costs).all() else "aiq"


def compare(data: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, object]]:
    """{table: {"figure": name, "kinds": {kind: value}, "auto_chose": kind, "baselines": {...}}}."""
    out: dict[str, dict[str, object]] = {}
    for name, (rel, by) in TABLES.items():
        fit, dev = dev_split(select(load_outcomes([data / rel]), "train", by=by), by=by)
        figure = _figure(fit)
        row: dict[str, float] = {}
        chose = None
        for kind in kinds:
            if kind == "cascade" and not fit.has_responses:
                continue
            router = fit_router(fit, kind)
            report = evaluate_router(router, dev, fit, bootstrap=0, latency=False)
            row[kind] = report["router"][figure]
            chose = router.calibration.get("selection", {}).get("chosen", chose)
        base = report["baselines"]
        out[name] = {"figure": figure, "prompts": [fit.n, dev.n], "kinds": row, "auto_chose": chose,
                     "baselines": {b: base[b][figure] for b in ("per_task", "zero_router")}}
    return out


def summary(result: dict[str, dict[str, object]], kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, float]]:
    """Per kind over the tables where it ran: mean rank (1 = best) and largest shortfall to the best."""
    ranks: dict[str, list[int]] = {k: [] for k in kinds}
    short: dict[str, list[float]] = {k: [] for k in kinds}
    for row in result.values():
        values: dict[str, float] = row["kinds"]  # type: ignore[assignment]
        for k, v in values.items():
            ranks[k].append(1 + sum(other > v + 1e-12 for other in values.values()))  # equal values share a rank
            short[k].append(max(values.values()) - v)
    return {k: {"mean_rank": float(np.mean(ranks[k])), "worst_shortfall": float(max(short[k])),
                "tables": len(ranks[k])} for k in kinds if ranks[k]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                    / "routing")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kinds = tuple(args.kinds.split(","))
    result = compare(args.data, kinds)
    summ = summary(result, kinds)
    if args.json:
        print(json.dumps({"tables": result, "summary": summ}, indent=1))
        return
    for name, row in result.items():
        cells = "  ".join(f"{k} {v:.3f}" for k, v in row["kinds"].items())  # type: ignore[union-attr]
        base = "  ".join(f"{k} {v:.3f}" for k, v in row["baselines"].items() if v is not None)  # type: ignore[union-attr]
        print(f"{name:12s} {row['figure']:11s} {cells}  | {base}  | auto chose {row['auto_chose']}")
    for k, s in summ.items():
        print(f"{k:8s} mean rank {s['mean_rank']:.1f} over {s['tables']} tables, "
              f"worst shortfall {s['worst_shortfall']:.3f}")


if __name__ == "__main__":
    main()
