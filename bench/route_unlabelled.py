"""Routing outcomes recorded without task labels: labelled vs unlabelled, inside the training part.

    .venv/bin/python bench/route_unlabelled.py [--data ../shared/data/routing/routerbench] [--json]

The table's training part (the held-out split is never read) is split again by a hash of the
prompt id (30 % dev). Each router kind is fitted on the rest twice, once with the recorded task
labels and once with every label replaced by one, where tierflow infers prompt templates instead
(:func:`tierflow.routing.boilerplate.template_labels`), and evaluated on the dev prompts.
Printed per kind: AIQ / the best mean quality on the router's curve. A quality check, not a timing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from tierflow.routing.formats import load_outcomes
from tierflow.routing.outcomes import OutcomeTable
from tierflow.routing.pipeline import evaluate_router, fit_router
from tierflow.routing.split import select

KINDS = ("knn", "linear", "task", "cascade")


def dev_split(table: OutcomeTable, share: float = 0.3) -> tuple[OutcomeTable, OutcomeTable]:
    """(fit part, dev part) of ``table`` by a hash of each prompt id."""
    dev = np.array([int.from_bytes(hashlib.sha256(("dev-split:" + k).encode()).digest()[:8], "big") / 2**64 < share
                    for k in table.ids])
    return table.subset(np.nonzero(~dev)[0]), table.subset(np.nonzero(dev)[0])


def compare(path: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, list[float]]]:
    """{kind: {"labelled": [aiq, max_quality], "unlabelled": [...]}}."""
    fit, dev = dev_split(select(load_outcomes([path]), "train"))
    out: dict[str, dict[str, list[float]]] = {}
    for kind in kinds:
        if kind == "cascade" and not fit.has_responses:
            continue
        for name, a, b in (("labelled", fit, dev), ("unlabelled", replace(fit, tasks=["default"] * fit.n, notes=[]),
                                                     replace(dev, tasks=["default"] * dev.n))):
            report = evaluate_router(fit_router(a, kind), b, a, bootstrap=0, latency=False)["router"]
            out.setdefault(kind, {})[name] = [report["aiq"], report["max_quality"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "routing" / "routerbench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = compare(args.data)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{'kind':8} {'labelled':>16} {'unlabelled':>16}   (AIQ / max quality on the dev prompts)")
    for kind, row in result.items():
        print(f"{kind:8} " + " ".join(f"{row[k][0]:7.3f} / {row[k][1]:.3f}" for k in ("labelled", "unlabelled")))


if __name__ == "__main__":
    main()
