"""How many of the baseline's complex functions are still graded C or worse by radon.

The baseline (``--baseline``, a JSON list of ``[file, function, rank, complexity]``) is the set of
functions radon graded C or worse when issue 30 was filed. Only those functions are counted, so new
code does not dilute the figure. A function that moved is looked up by name in its old file first,
then anywhere under the old file's package directory (with or without a leading underscore on each
dotted part: ``_Merger.finish_prices`` finds ``Merger.finish_prices``); one found nowhere was split
or removed and counts as resolved (``--verbose`` lists them).

    .venv/bin/python -m pip install radon
    .venv/bin/python bench/complexity.py [--baseline complexity_baseline.json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = Path("/work/complexity_baseline.json")


@dataclass(frozen=True)
class Block:
    file: str
    name: str
    complexity: int

    @property
    def rank(self) -> str:
        return str(cc_rank(self.complexity))


@cache
def _blocks(path: Path) -> tuple[Block, ...]:
    """Every function, method and class radon grades in one file, named as radon prints them."""
    try:
        visited = cc_visit(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return ()
    rel = str(path.relative_to(ROOT))
    found: list[Block] = []
    for block in visited:
        name = f"{block.classname}.{block.name}" if getattr(block, "classname", None) else block.name
        found.append(Block(rel, name, block.complexity))
        for method in getattr(block, "methods", ()):
            found.append(Block(rel, f"{block.name}.{method.name}", method.complexity))
    return tuple(found)


def _plain(name: str) -> str:
    return ".".join(part.lstrip("_") for part in name.split("."))


def _find(file: str, name: str) -> Block | None:
    """The baseline function now: in its file, else anywhere under its package directory."""
    path = ROOT / file
    exact = [b for b in _blocks(path) if b.name == name] if path.exists() else []
    if exact:
        return max(exact, key=lambda b: b.complexity)
    package = path.parent
    while not package.exists():
        package = package.parent
    moved = [b for p in sorted(package.rglob("*.py")) for b in _blocks(p) if _plain(b.name) == _plain(name)]
    return max(moved, key=lambda b: b.complexity) if moved else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    parser.add_argument("--verbose", action="store_true", help="list every baseline function and its rank now")
    args = parser.parse_args(argv)
    baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    remaining = 0
    for file, name, rank, complexity in baseline:
        now = _find(file, name)
        still = now is not None and now.rank >= "C"
        remaining += still
        if args.verbose:
            where = f"{now.file}:{now.name} {now.rank} ({now.complexity})" if now else "split or removed"
            print(f"{'C+ ' if still else 'ok '} {file}:{name} {rank} ({complexity}) -> {where}")
    print(f"{remaining} of the baseline's {len(baseline)} C-or-worse functions are still graded C or worse")
    return 0


if __name__ == "__main__":
    sys.exit(main())
