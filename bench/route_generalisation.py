"""Routing beyond the training outcomes' shape, checked inside the training part only.

    .venv/bin/python bench/route_generalisation.py [--check unseen|unlabelled|all] [--data DIR] [--json]

The held-out split is never read. Two checks, printed per router kind as AIQ / the best mean
quality on the router's curve (quality checks, not timings):

- ``unseen``: a task never seen in training. For each task, every kind is fitted on the other
  tasks and evaluated on this one, beside the baselines of ``route eval`` measured in the same
  run (zero router, plain agreement cascade, best single model).
- ``unlabelled``: outcomes recorded without task labels. The training part is split again by a
  hash of the prompt id (30 % dev); each kind is fitted on the rest with the recorded labels and
  with every label replaced by one, where tierflow infers prompt templates instead
  (:func:`tierflow.routing.features.boilerplate.template_labels`), and evaluated on the dev prompts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from tierflow.routing.data.formats import load_outcomes
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.data.split import select
from tierflow.routing.fit.evaluate import evaluate_router
from tierflow.routing.fit.train import fit_router

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


def dev_split(table: OutcomeTable, share: float = 0.3, by: str = "prompt") -> tuple[OutcomeTable, OutcomeTable]:
    """(fit part, dev part) of ``table`` by a hash of each prompt id (or task name, ``by="task"``)."""
    keys = table.ids if by == "prompt" else table.tasks
    dev = np.array([int.from_bytes(hashlib.sha256(("dev-split:" + k).encode()).digest()[:8], "big") / 2**64 < share
                    for k in keys])
    return table.subset(np.nonzero(~dev)[0]), table.subset(np.nonzero(dev)[0])


def unlabelled(path: Path, kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, list[float]]]:
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


def _print_unseen(result: dict[str, dict[str, object]]) -> None:
    for held, row in result.items():
        cells = [f"{k} {v[0]:.3f}/{v[1]:.3f}" for k, v in row.items() if k in KINDS]  # type: ignore[index]
        b = row["baselines"]
        agree = "n/a" if b["agreement_cascade"] is None else f"{b['agreement_cascade']:.3f}"  # type: ignore[index]
        print(f"{held} ({row['prompts']}): " + " | ".join(cells)
              + f" | zero router {b['zero_router']:.3f}, agreement {agree}, "  # type: ignore[index]
              f"best single {b['best_single_quality']:.3f}")  # type: ignore[index]


def _print_unlabelled(result: dict[str, dict[str, list[float]]]) -> None:
    print(f"{'kind':8} {'labelled':>16} {'unlabelled':>16}   (AIQ / max quality on the dev prompts)")
    for kind, row in result.items():
        print(f"{kind:8} " + " ".join(f"{row[k][0]:7.3f} / {row[k][1]:.3f}" for k in ("labelled", "unlabelled")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", choices=("unseen", "unlabelled", "all"), default="all")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "routing" / "routerbench")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    checks = {"unseen": (leave_one_task_out, _print_unseen), "unlabelled": (unlabelled, _print_unlabelled)}
    results = {name: run(args.data) for name, (run, _) in checks.items() if args.check in (name, "all")}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for name, result in results.items():
        print(f"== {name}")
        checks[name][1](result)  # type: ignore[operator]


if __name__ == "__main__":
    main()
