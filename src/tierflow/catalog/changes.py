"""What a rebuild changed: models added and removed, prices moved (``tierflow models refresh`` prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PriceRow = tuple[float | None, float | None]  # (input_price, output_price), USD per 1M tokens


@dataclass
class CatalogChanges:
    """The difference between two builds' ``llms`` tables, by slug."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[tuple[str, PriceRow, PriceRow]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.moved)

    def lines(self, limit: int = 8) -> list[str]:
        """A short human summary: counts, then up to ``limit`` examples of each kind."""
        if not self:
            return ["no model added or removed, no price moved"]
        out = []
        for label, slugs in (("added", self.added), ("removed", self.removed)):
            if slugs:
                more = f" and {len(slugs) - limit} more" if len(slugs) > limit else ""
                out.append(f"{len(slugs)} model(s) {label}: {', '.join(slugs[:limit])}{more}")
        if self.moved:
            out.append(f"{len(self.moved)} price(s) moved (input / output USD per 1M tokens):")
            out += [f"  {slug}: {_price(a)} -> {_price(b)}" for slug, a, b in self.moved[:limit]]
            if len(self.moved) > limit:
                out.append(f"  ... and {len(self.moved) - limit} more")
        return out


def _price(p: PriceRow) -> str:
    return " / ".join("?" if v is None else f"${v:g}" for v in p)


def read_prices(path: Path) -> dict[str, PriceRow] | None:
    """``{slug: (input, output)}`` of the catalog at ``path``; None when there is none readable."""
    import duckdb

    if not path.is_file():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except (duckdb.Error, OSError):
        return None
    try:
        rows = con.execute("SELECT slug, input_price, output_price FROM llms").fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return {slug: (inp, out) for slug, inp, out in rows}


def diff(old: dict[str, PriceRow], new: dict[str, PriceRow]) -> CatalogChanges:
    """Models added, removed and re-priced between ``old`` and ``new``."""
    moved = [(slug, old[slug], new[slug]) for slug in sorted(old.keys() & new.keys())
             if any(_differs(a, b) for a, b in zip(old[slug], new[slug]))]
    return CatalogChanges(added=sorted(new.keys() - old.keys()), removed=sorted(old.keys() - new.keys()),
                          moved=moved)


def _differs(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b))


__all__ = ["CatalogChanges", "diff", "read_prices"]
