"""Role requirements (the README's Model catalog section) and picking the catalog's best models for a role.

Defaults, editable in the project config under ``role_requirements:``::

    role_requirements:
      orchestrator: {min_intelligence: 60, min_coding: 50, priority: capability}
      summariser:   {min_intelligence: 35, priority: cost, min_context: 100000}

Priorities:
- ``capability`` (capability over cost): highest intelligence, then coding, then lowest price.
- ``balance``: best ``intelligence - 25 * log10(price)``: a 10x dearer model must be 25 points
  smarter to rank higher.
- ``reliability``: stable releases (no preview/experimental/beta) known to support tool calling
  first, then the best ``coding - 25 * log10(price)`` (coding is the best proxy for following a
  tool schema).
- ``cost``: lowest blended price, then highest intelligence.
- ``coding`` (an ``--order`` only): highest coding score, then price.
Only models with a price from a price catalog (genai-prices, models.dev, tryaii, LiteLLM, an
override, or free local models) are candidates: cost is part of every priority, and Arena-only
entries (research variants) are not offered by a provider's API.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow.errors import CatalogError, ConfigError, Problem

Priority = Literal["capability", "balance", "reliability", "cost", "coding"]
PRIORITY_LABELS: dict[str, str] = {"capability": "capability over cost", "balance": "balance",
                                   "reliability": "reliability", "cost": "cost", "coding": "coding first"}
ORDER_ALIASES = {"price": "cost", "intelligence": "capability"}
_UNSTABLE = re.compile(r"preview|exp|beta|alpha")


class RoleRequirement(BaseModel):
    """Minimum scores and the priority used to rank the models that meet them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_intelligence: float | None = Field(default=None, ge=0, le=100)
    min_coding: float | None = Field(default=None, ge=0, le=100)
    min_math: float | None = Field(default=None, ge=0, le=100)
    min_context: int | None = Field(default=None, gt=0)
    max_price: float | None = Field(default=None, ge=0)
    priority: Priority = "balance"
    description: str = ""


DEFAULT_REQUIREMENTS: dict[str, RoleRequirement] = {
    "orchestrator": RoleRequirement(min_intelligence=55, min_coding=45, priority="capability",
                                    description="planning, decomposition, decisions"),
    "reasoning_worker": RoleRequirement(min_intelligence=45, priority="balance",
                                        description="analysis of well-scoped sub-tasks"),
    "tool_worker": RoleRequirement(min_intelligence=40, min_coding=40, priority="reliability",
                                   description="tool calls and code execution"),
    "extraction_worker": RoleRequirement(min_intelligence=30, priority="cost",
                                         description="pulling fields out of documents"),
    "formatting_worker": RoleRequirement(min_intelligence=25, priority="cost",
                                         description="turning results into the output format"),
}
ALIASES = {"reasoning": "reasoning_worker", "tool": "tool_worker", "extraction": "extraction_worker",
           "formatting": "formatting_worker"}


def load_requirements(config: Path | str | None = None) -> dict[str, RoleRequirement]:
    """The default requirements, updated by the config file's ``role_requirements:`` (if any)."""
    reqs = dict(DEFAULT_REQUIREMENTS)
    if config is None:
        return reqs
    import yaml

    path = Path(config)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([Problem(str(path), f"cannot be read as YAML: {exc}")]) from exc
    raw = doc.get("role_requirements") if isinstance(doc, dict) else None
    if raw is None:
        return reqs
    if not isinstance(raw, dict):
        raise ConfigError([Problem("role_requirements", "expected a mapping of role name -> requirements")],
                          source=str(path))
    problems = []
    for role, spec in raw.items():
        try:
            reqs[str(role)] = RoleRequirement.model_validate(spec or {})
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                problems.append(Problem(f"role_requirements.{role}" + (f".{loc}" if loc else ""), err["msg"]))
    if problems:
        raise ConfigError(problems, source=str(path))
    return reqs


@dataclass
class Candidate:
    """One model that meets a role's requirements, with why it ranks where it does."""

    slug: str
    name: str
    provider: str
    intelligence: float | None
    coding: float | None
    price: float
    context_window: int | None
    rank: int = 0
    reasons: list[str] = field(default_factory=list)


def resolve_role(role: str, reqs: dict[str, RoleRequirement]) -> RoleRequirement:
    """The requirement of ``role`` (aliases like ``reasoning`` accepted) or a clear error."""
    key = ALIASES.get(role, role)
    if key not in reqs:
        raise CatalogError([Problem("--role", f"unknown role {role!r}; known roles: {sorted(reqs)} (add it "
                                              "under role_requirements: in the config)")])
    return reqs[key]


def _rank_key(priority: str, r: dict[str, Any]) -> tuple[Any, ...]:
    intel, code, price = r["intelligence"] or 0.0, r["coding"] or 0.0, r["price"]
    if priority == "capability":
        return (-intel, -code, price)
    if priority == "cost":
        return (price, -intel)
    if priority == "coding":
        return (-code, price)
    if priority == "reliability":
        unstable = bool(_UNSTABLE.search(r["slug"]))
        return (unstable, r["tool_call"] is not True, -(code - 25 * math.log10(max(price, 0.01))), price)
    return (-(intel - 25 * math.log10(max(price, 0.01))), price)


def _g(v: float | None) -> str:
    return "?" if v is None else f"{v:g}"


def _reasons(req: RoleRequirement, r: dict[str, Any], rank: int, total: int) -> list[str]:
    out = []
    for col, minimum in (("intelligence", req.min_intelligence), ("coding", req.min_coding),
                         ("math", req.min_math)):
        if minimum is not None:
            out.append(f"{col} {_g(r[col])} >= {minimum:g}")
    if req.min_context is not None:
        out.append(f"context {r['context_window']:,} >= {req.min_context:,}")
    if req.max_price is not None:
        out.append(f"price ${r['price']:g}/M <= ${req.max_price:g}/M")
    label = PRIORITY_LABELS[req.priority]
    how = {"capability": f"intelligence {_g(r['intelligence'])}",
           "cost": f"blended price ${r['price']:g}/M",
           "coding": f"coding {_g(r['coding'])}",
           "balance": f"intelligence {_g(r['intelligence'])} for ${r['price']:g}/M",
           "reliability": ("stable release" if not _UNSTABLE.search(r["slug"]) else "pre-release")
           + (", tool calling" if r["tool_call"] else "") + f", coding {_g(r['coding'])}"}[req.priority]
    out.append(f"priority {label}: {how} ranks #{rank} of {total} qualifying")
    return out


def pick(req: RoleRequirement, *, limit: int | None = 5, order: str | None = None, con: Any = None,
         path: Path | str | None = None) -> list[Candidate]:
    """The best ``limit`` catalog models meeting ``req``, ranked by its priority (or ``order``)."""
    from tierflow.catalog.query import connect

    priority = ORDER_ALIASES.get(order or req.priority, order or req.priority)
    if priority not in PRIORITY_LABELS:
        raise CatalogError([Problem("--order", f"unknown order {order!r}; expected one of "
                                               f"{sorted([*PRIORITY_LABELS, *ORDER_ALIASES])}")])
    where = ["price IS NOT NULL", "price_source <> 'arena'"]
    params: list[Any] = []
    for col, minimum in (("intelligence", req.min_intelligence), ("coding", req.min_coding),
                         ("math", req.min_math), ("context_window", req.min_context)):
        if minimum is not None:
            where.append(f"{col} >= ?")
            params.append(minimum)
    if req.max_price is not None:
        where.append("price <= ?")
        params.append(req.max_price)
    own = con is None
    con = con if con is not None else connect(path)
    try:
        cur = con.execute("SELECT slug, name, provider, intelligence, coding, math, price, context_window, "
                          f"tool_call FROM llms WHERE {' AND '.join(where)}", params)
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        if own:
            con.close()
    rows.sort(key=lambda r: _rank_key(priority, r))
    effective = req.model_copy(update={"priority": priority})
    out = []
    for i, r in enumerate(rows[:limit] if limit else rows, start=1):
        out.append(Candidate(slug=r["slug"], name=r["name"], provider=r["provider"],
                             intelligence=r["intelligence"], coding=r["coding"], price=r["price"],
                             context_window=r["context_window"], rank=i,
                             reasons=_reasons(effective, r, i, len(rows))))
    return out


def fallback_for(chosen: Candidate, candidates: list[Candidate]) -> Candidate | None:
    """The best-ranked candidate from a different provider than ``chosen``, if any qualifies."""
    return next((c for c in candidates if c.provider != chosen.provider), None)


__all__ = [
    "ALIASES",
    "DEFAULT_REQUIREMENTS",
    "PRIORITY_LABELS",
    "Candidate",
    "Priority",
    "RoleRequirement",
    "fallback_for",
    "load_requirements",
    "pick",
    "resolve_role",
]
