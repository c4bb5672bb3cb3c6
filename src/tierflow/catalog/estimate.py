"""Cost estimates: one model for everything versus a multi-model plan, at a stated volume.

A spec (YAML) states the volume, tokens per call, the stages of the plan and the model of each;
prices come from the spec's ``prices:`` (USD per 1M tokens, by slug or by any tier name) or else
from the catalog. The single-model baseline runs the *same* calls and tokens on ``single``::

    calls: 1000
    tokens_per_call: {input: 1000, output: 1000}
    prices:
      openai/gpt-4o:      {input: 2.50, output: 10.00}
      openai/gpt-4o-mini: {input: 0.15, output: 0.60}
    single: openai/gpt-4o
    plan:
      - {stage: simple,  model: openai/gpt-4o-mini, share: 0.8}
      - {stage: complex, model: openai/gpt-4o,      share: 0.2}

A stage gives ``share`` (of ``calls``) or its own ``calls``, and may override ``tokens_per_call``.
Each call is answered by exactly one stage's model. Arithmetic is exact (decimal).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierflow.errors import ConfigError, Problem

_MILLION = Decimal(1_000_000)


class Tokens(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)


class Price(BaseModel):
    """USD per 1M tokens: ``input`` and ``output``, or one ``blended`` price for every token."""

    model_config = ConfigDict(extra="forbid")

    input: Decimal | None = Field(default=None, ge=0)
    output: Decimal | None = Field(default=None, ge=0)
    blended: Decimal | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> Price:
        if self.blended is None and (self.input is None or self.output is None):
            raise ValueError("give both 'input' and 'output' (USD per 1M tokens), or 'blended'")
        return self

    def per_mtok(self) -> tuple[Decimal, Decimal]:
        if self.blended is not None:
            return self.blended, self.blended
        assert self.input is not None and self.output is not None
        return self.input, self.output


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str = Field(min_length=1)
    model: str = Field(min_length=1)
    share: Decimal | None = Field(default=None, gt=0, le=1)
    calls: Decimal | None = Field(default=None, ge=0)
    tokens_per_call: Tokens | None = None

    @model_validator(mode="after")
    def _volume(self) -> Stage:
        if (self.share is None) == (self.calls is None):
            raise ValueError("give exactly one of 'share' (of the spec's calls) or 'calls'")
        return self


class EstimateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "cost estimate"
    calls: Decimal | None = Field(default=None, ge=0)
    tokens_per_call: Tokens | None = None
    prices: dict[str, Price] = Field(default_factory=dict)
    single: str = Field(min_length=1)
    plan: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> EstimateSpec:
        for i, st in enumerate(self.plan):
            if st.share is not None and self.calls is None:
                raise ValueError(f"plan[{i}] ({st.stage}) gives a share but the spec has no 'calls'")
            if st.tokens_per_call is None and self.tokens_per_call is None:
                raise ValueError(f"plan[{i}] ({st.stage}) has no tokens_per_call and the spec gives none")
        shares = sum((st.share for st in self.plan if st.share is not None), Decimal(0))
        if shares > 1:
            raise ValueError(f"the stages' shares add up to {shares}, more than 1")
        return self


@dataclass(frozen=True, slots=True)
class StageCost:
    stage: str
    model: str
    calls: Decimal
    input_tokens: Decimal
    output_tokens: Decimal
    price_in: Decimal
    price_out: Decimal
    cost: Decimal
    single_cost: Decimal


@dataclass(frozen=True, slots=True)
class Estimate:
    """The comparison: per-stage costs, both totals and the savings."""

    name: str
    single: str
    stages: list[StageCost]
    single_total: Decimal
    plan_total: Decimal
    price_sources: dict[str, str]

    @property
    def savings(self) -> Decimal:
        return self.single_total - self.plan_total

    @property
    def savings_pct(self) -> Decimal:
        return self.savings / self.single_total * 100 if self.single_total else Decimal(0)

    @property
    def ratio(self) -> Decimal | None:
        """How many times cheaper the plan is (None when the plan costs nothing)."""
        return self.single_total / self.plan_total if self.plan_total else None


def load_spec(path: Path | str) -> EstimateSpec:
    """Read and validate an estimate spec; errors name the file and field."""
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([Problem(str(p), f"cannot be read as YAML: {exc}")]) from exc
    return parse_spec(doc, source=str(p))


def parse_spec(doc: Any, *, source: str | None = None) -> EstimateSpec:
    """Validate a spec given as a mapping."""
    if not isinstance(doc, dict):
        raise ConfigError([Problem("", "an estimate spec is a mapping with calls, tokens_per_call, single, plan")],
                          source=source)
    try:
        return EstimateSpec.model_validate(doc)
    except ValidationError as exc:
        problems = [Problem(".".join(str(x) for x in e["loc"]) or "spec", str(e["msg"]).removeprefix("Value error, "))
                    for e in exc.errors()]
        raise ConfigError(problems, source=source) from None


def _catalog_prices(models: set[str], catalog: Path | str | None) -> dict[str, tuple[Decimal, Decimal]]:
    from tierflow.catalog.query import connect

    if not models:
        return {}
    con = connect(catalog)
    try:
        rows = con.execute("SELECT slug, input_price, output_price FROM llms WHERE slug IN "
                           f"({', '.join('?' for _ in models)})", sorted(models)).fetchall()
        found = {s: (Decimal(str(i)), Decimal(str(o))) for s, i, o in rows if i is not None and o is not None}
        missing = sorted(models - found.keys())
        if missing:
            from difflib import get_close_matches

            slugs = [r[0] for r in con.execute("SELECT slug FROM llms").fetchall()]
            problems = [Problem(f"model {m!r}", "has no price in the catalog; add it under prices: in the spec"
                                + (f" (did you mean {get_close_matches(m, slugs, 3)}?)"
                                   if get_close_matches(m, slugs, 3) else "")) for m in missing]
            raise ConfigError(problems)
        return found
    finally:
        con.close()


def estimate(spec: EstimateSpec, *, catalog: Path | str | None = None) -> Estimate:
    """Price every stage on its model and on ``spec.single``; prices from the spec, else the catalog."""
    prices = {name: p.per_mtok() for name, p in spec.prices.items()}
    sources = {name: "spec" for name in prices}
    needed = ({st.model for st in spec.plan} | {spec.single}) - prices.keys()
    for name, pair in _catalog_prices(needed, catalog).items():
        prices[name] = pair
        sources[name] = "catalog"
    single_in, single_out = prices[spec.single]
    stages = []
    for st in spec.plan:
        calls = st.calls if st.calls is not None else spec.calls * st.share  # type: ignore[operator]
        tok = st.tokens_per_call or spec.tokens_per_call
        assert tok is not None
        tin, tout = calls * tok.input, calls * tok.output
        pin, pout = prices[st.model]
        stages.append(StageCost(st.stage, st.model, calls, tin, tout, pin, pout,
                                cost=(tin * pin + tout * pout) / _MILLION,
                                single_cost=(tin * single_in + tout * single_out) / _MILLION))
    return Estimate(spec.name, spec.single, stages, single_total=sum((s.single_cost for s in stages), Decimal(0)),
                    plan_total=sum((s.cost for s in stages), Decimal(0)), price_sources=sources)


__all__ = ["Estimate", "EstimateSpec", "Price", "Stage", "StageCost", "Tokens", "estimate", "load_spec",
           "parse_spec"]
