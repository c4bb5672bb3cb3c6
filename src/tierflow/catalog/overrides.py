"""User overrides: add models to the catalog or correct them, from a CSV or JSON file.

A row names a model by ``slug`` ("provider/model") and sets any ``llms`` column, e.g.::

    slug,name,intelligence,coding,input_price,output_price,context_window
    acme/acme-large,Acme Large,61,52,1.0,4.0,200000

JSON is a list of such objects (or ``{"models": [...]}``). Every row is validated before the
catalog is touched; each problem names the file, the row (and CSV line) and the field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from tierflow.errors import CatalogError, Problem


class OverrideRow(BaseModel):
    """One override: ``slug`` plus any catalog columns to set (unset ones are left alone)."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[^/\s]+/\S+$")
    name: str | None = None
    creator: str | None = None
    intelligence: float | None = Field(default=None, ge=0, le=100)
    coding: float | None = Field(default=None, ge=0, le=100)
    math: float | None = Field(default=None, ge=0, le=100)
    price: float | None = Field(default=None, ge=0)
    input_price: float | None = Field(default=None, ge=0)
    output_price: float | None = Field(default=None, ge=0)
    cached_input_price: float | None = Field(default=None, ge=0)
    tps: float | None = Field(default=None, ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    modalities: list[str] | None = None
    open_weights: bool | None = None
    release_date: date | None = None
    reasoning: bool | None = None
    tool_call: bool | None = None

    @field_validator("modalities", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        """CSV cells list modalities as ``text|image``."""
        return [p.strip() for p in v.split("|") if p.strip()] if isinstance(v, str) else v


_FIELDS = list(OverrideRow.model_fields)


def _explain(err: ErrorDetails) -> str:
    kind, value = err.get("type", ""), err.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"is not a catalog column (expected some of: {', '.join(_FIELDS)})"
    if kind == "string_pattern_mismatch":
        return f"{value!r} is not a 'provider/model' slug"
    if kind.startswith(("float", "int")):
        return f"expected a number, got {value!r}"
    if kind.startswith("bool"):
        return f"expected true or false, got {value!r}"
    if kind.startswith("date"):
        return f"expected a date YYYY-MM-DD, got {value!r}"
    return f"{err.get('msg', 'is invalid')} (got {value!r})"


def _raw_rows(path: Path) -> list[tuple[str, Any]]:
    """(row label, raw row) pairs from a CSV or JSON file."""
    if not path.is_file():
        raise CatalogError([Problem(str(path), "override file not found")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([Problem(str(path), f"cannot be read: {exc}")]) from exc
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise CatalogError([Problem(str(path), f"invalid JSON: {exc}")]) from exc
        items = doc.get("models") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise CatalogError([Problem(str(path), "expected a JSON list of model objects or {\"models\": [...]}")])
        return [(f"row {i}", item) for i, item in enumerate(items)]
    if path.suffix.lower() != ".csv":
        raise CatalogError([Problem(str(path), "override files must be .csv or .json")])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if "slug" not in header:
        raise CatalogError([Problem(f"{path} (header)", f"missing column 'slug'; found columns {header}")])
    rows = []
    for i, row in enumerate(reader, start=1):
        if None in row:
            raise CatalogError([Problem(f"{path}:row {i} (line {reader.line_num})",
                                        f"has more cells than the header's {len(header)} columns")])
        rows.append((f"row {i} (line {reader.line_num})", {k: v for k, v in row.items() if v not in ("", None)}))
    return rows


def read_overrides(path: Path) -> list[OverrideRow]:
    """Validate an override file; raises :class:`CatalogError` listing every bad row and field."""
    rows, problems = [], []
    for label, item in _raw_rows(path):
        if not isinstance(item, dict):
            problems.append(Problem(f"{path}:{label}", f"expected an object, got {type(item).__name__}"))
            continue
        try:
            rows.append(OverrideRow.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                fld = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append(Problem(f"{path}:{label}, field '{fld}'", _explain(err)))
    if problems:
        raise CatalogError(problems, source=str(path))
    return rows


def apply_overrides(llms: list[dict[str, Any]], rows: list[OverrideRow],
                    blend: Callable[[float | None, float | None], float | None]) -> list[dict[str, Any]]:
    """Apply rows to ``llms`` records (matched by slug; new slugs are added) and return the list."""
    by_slug = {r["slug"]: r for r in llms}
    for row in rows:
        rec = by_slug.get(row.slug)
        if rec is None:
            provider, _, model = row.slug.partition("/")
            rec = {"slug": row.slug, "provider": provider, "model": model, "creator": provider, "name": model,
                   "listed_by": []}
            by_slug[row.slug] = rec
        given = row.model_dump(exclude_unset=True, exclude={"slug"})
        rec.update(given)
        if {"input_price", "output_price"} & given.keys() and "price" not in given:
            rec["price"] = blend(rec.get("input_price"), rec.get("output_price"))
        if {"input_price", "output_price", "price"} & given.keys():
            rec["price_source"] = "override"
        if {"intelligence", "coding", "math"} & given.keys():
            rec["score_source"] = "override"
        rec["listed_by"] = [*(rec.get("listed_by") or []), "override"]
    return list(by_slug.values())


__all__ = ["OverrideRow", "apply_overrides", "read_overrides"]
