"""Routing on a task never seen in training: leave one task out, inside the training part.

    .venv/bin/python bench/route_unseen_tasks.py [--data ../shared/data/routing/routerbench] [--json]

For each task of the table's training part (the held-out split is never read), every router kind
is fitted on the other tasks and evaluated on this one, beside the baselines of ``route eval``
measured in the same run (zero router, plain agreement cascade, best single model). Printed per
kind: AIQ / the best mean quality on the router's curve. This is a quality check, not a timing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tierflow.routing.formats import load_outcomes
from tierflow.routing.pipeline import evaluate_router, fit_router
from tierflow.routing.split import select

KINDS = ("knn", "cluster", "linear", "task", "cascade")


def leave_one_task_out(path: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, object]]:
    """{held-out task: {kind: [aiq, max_quality], "baselines": {...}, "prompts": n}}."""
    table = select(load_outcomes([path]), "train")
    out: dict[str, dict[str, object]] = {}
    for held in sorted(set(table.tasks)):
        mask = np.array([t == held for t in table.tasks])
        train, test = table.subset(np.nonzero(~mask)[0]), table.subset(np.nonzero(mask)[0])
        row: dict[str, object] = {"prompts": test.n}
        for kind in kinds:
            if kind == "cascade" and not train.has_responses:
                continue
            report = evaluate_router(fit_router(train, kind), test, train, bootstrap=0, latency=False)
            row[kind] = [report["router"]["aiq"], report["router"]["max_quality"]]
        base = report["baselines"]
        row["baselines"] = {"zero_router": base["zero_router"]["aiq"],
                            "agreement_cascade": base.get("agreement_cascade", {}).get("aiq"),
                            "best_single_quality": base["best_single"]["max_quality"]}
        out[held] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "routing" / "routerbench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = leave_one_task_out(args.data)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for held, row in result.items():
        cells = [f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in row.items() if k in KINDS]  # type: ignore[index]
        b = row["baselines"]
        agree = "n/a" if b["agreement_cascade"] is None else f"{b['agreement_cascade']:.3f}"  # type: ignore[index]
        print(f"{held} ({row['prompts']}): " + " | ".join(cells)
              + f" | zero router {b['zero_router']:.3f}, agreement {agree}, "  # type: ignore[index]
              f"best single {b['best_single_quality']:.3f}")  # type: ignore[index]


if __name__ == "__main__":
    main()
