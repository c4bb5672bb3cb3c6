"""Does a calibrated router keep its promise? Expected against measured, on dev splits.

    .venv/bin/python bench/route_calibration.py [--data DIR] [--kinds knn,cluster,...] [--tables mmlu-unseen,...]
        [--target 0.95] [--folds prompt|task] [--json]

The held-out split is never read. Each table's training part is split again as in
``route_kinds.py`` (30 % dev by a hash of the prompt id; by subject for ``mmlu-unseen``); each
kind is fitted and calibrated to a quality floor (``--target``, a share of the best single
model's quality) on the rest, and the quality and cost stored in the router are compared with
what it does on the dev prompts. A cost ratio near 1 and a dev quality inside the expected
interval mean the promise held. ``--folds task`` calibrates with whole tasks held out of the
refits (``route fit --folds task``). A quality check, not a timing; 1.5 minutes with warm caches.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from route_generalisation import dev_split
from route_kinds import TABLES

from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.data.split import select
from tierflow.routing.fit.evaluate import evaluate_router
from tierflow.routing.fit.train import fit_router
from tierflow.routing.targets import CalibrationTarget

KINDS = ("knn", "cluster", "linear", "task", "blend", "cascade")


def check(data: Path, kinds: tuple[str, ...] = KINDS, target: float = 0.95, folds: str = "prompt",
          tables: tuple[str, ...] = tuple(TABLES)) -> list[dict[str, object]]:
    """One row per (table, kind): expected quality with its interval, dev quality, cost ratio."""
    rows: list[dict[str, object]] = []
    for name in tables:
        rel, by = TABLES[name]
        fit, dev = dev_split(select(load_outcomes([data / rel]), "train", by=by), by=by)
        for kind in kinds:
            if kind == "cascade" and not fit.has_responses:
                continue
            router = fit_router(fit, kind, target=CalibrationTarget(quality=target), folds=folds)
            point = evaluate_router(router, dev, fit, bootstrap=0, latency=False)["router"]["calibrated_point"]
            rows.append({"table": name, "kind": kind, "expected_quality": point["expected_quality"],
                         "expected_quality_ci95": router.calibration["expected_quality_ci95"],
                         "dev_quality": point["test_quality"], "expected_cost": point["expected_cost"],
                         "dev_cost": point["test_cost"],
                         "cost_ratio": point["test_cost"] / max(point["expected_cost"], 1e-12)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                    / "routing")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--tables", default=",".join(TABLES))
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--folds", choices=("prompt", "task"), default="prompt")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = check(args.data, tuple(args.kinds.split(",")), args.target, args.folds, tuple(args.tables.split(",")))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        lo, hi = r["expected_quality_ci95"]  # type: ignore[misc]
        print(f"{r['table']:12s} {r['kind']:8s} expected quality {r['expected_quality']:.4f} [{lo:.3f}, {hi:.3f}]"
              f"  dev {r['dev_quality']:.4f} | cost expected {r['expected_cost']:.3g}, dev {r['dev_cost']:.3g},"
              f" ratio {r['cost_ratio']:.2f}")


if __name__ == "__main__":
    main()
