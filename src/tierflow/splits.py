"""Traffic splits: a registry role that sends each call to one of several roles by weight.

::

    {role: chat, split: [{role: current, weight: 0.9}, {role: candidate, weight: 0.1}]}

A split is how to A/B test or canary a model: callers, LLM nodes and the gateway name ``chat``
like any role, and each call goes to one **variant** (README, "Traffic splits"):

- Weights are positive, finite and relative: a variant gets ``weight / sum(weights)`` of the
  calls (0.9 / 0.1 and 9 / 1 are the same split).
- Each variant is a model role (``ref`` + ``model``) of the same registry, named once; a split
  never names a split (itself included) or a routed role, so splits cannot form cycles.
- With a key (``split_key=``: a user id, an API key, a session), the variant is a pure function
  of the split's role and the key: the first 8 bytes of ``sha256(role + "\\0" + key)`` read as a
  number in [0, 1), placed on the cumulative weights in the order written. The same key gets the
  same variant in every process and on every machine while the weights stay; raising the last
  variant's weight (a canary ramp) keeps every key it already had.
- Without a key each call draws at random.

The registry refuses bad splits when it is parsed (:func:`split_problems`); the call layer records
the variant chosen (``CallResult.variant``). This module imports nothing of tierflow but errors.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tierflow.errors import Problem, did_you_mean

ROLE_PATTERN = r"^[a-z][a-z0-9_]*$"  # the registry's (tierflow.registry.ROLE_PATTERN)
_ROLE_RE = re.compile(ROLE_PATTERN)
_SCALE = float(1 << 64)


class SplitArm(BaseModel):
    """One variant of a split: a model role and its relative weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern=ROLE_PATTERN, description="A model role of the same registry.")
    weight: float = Field(gt=0, description="Relative share of the calls (a positive number).")

    @field_validator("weight")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class SplitEntry(BaseModel):
    """A registry role that sends each call to one of its variants by weight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern=ROLE_PATTERN, description="Role name; unique within the registry.")
    split: list[SplitArm] = Field(min_length=1, description="The variants, each a model role with a weight.")

    @property
    def variants(self) -> list[str]:
        return [arm.role for arm in self.split]

    def share(self, variant: str) -> float:
        """The fraction of calls ``variant`` gets (its weight over the sum of weights)."""
        total = sum(arm.weight for arm in self.split)
        return sum(arm.weight for arm in self.split if arm.role == variant) / total

    def choose(self, key: str | None = None, *, rng: random.Random | None = None) -> str:
        """The variant of one call: sticky for ``key`` (hash-based), random without one."""
        point = split_point(self.role, key) if key is not None else (rng or random).random()
        total = sum(arm.weight for arm in self.split)
        edge = 0.0
        for arm in self.split:
            edge += arm.weight / total
            if point < edge:
                return arm.role
        return self.split[-1].role  # rounding left the point at the very end


def split_point(role: str, key: str) -> float:
    """Where ``key`` falls in [0, 1) for split ``role``: stable across processes and versions."""
    digest = hashlib.sha256(f"{role}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def is_split(raw: Any) -> bool:
    """True when a raw registry entry is a split (it has a ``split`` key)."""
    return isinstance(raw, Mapping) and "split" in raw


def split_problems(splits: Sequence[tuple[str, SplitEntry]], models: Mapping[str, bool]) -> list[Problem]:
    """What is wrong with each ``(label, split)`` given the registry's model roles (role -> serves
    chat): variants that are undeclared, splits, the split itself, chat-less, or named twice."""
    split_roles = {s.role for _, s in splits}
    problems = []
    for label, entry in splits:
        seen: set[str] = set()
        for j, arm in enumerate(entry.split):
            if not _ROLE_RE.match(arm.role):
                continue  # not a role name: reported where the entry was validated
            where = f"{label}.split[{j}].role"
            why = _variant_problem(entry.role, arm.role, split_roles, models, seen)
            if why is not None:
                problems.append(Problem(where, why))
            seen.add(arm.role)
    return problems


def _variant_problem(split: str, variant: str, split_roles: set[str], models: Mapping[str, bool],
                     seen: set[str]) -> str | None:
    if variant == split:
        return f"split {split!r} names itself; a variant must be a model role (ref + model)"
    if variant in split_roles:
        return (f"{variant!r} is a split too; a split cannot name a split (name its variants directly: "
                "splits do not nest)")
    if variant in seen:
        return f"{variant!r} is named twice in this split; give it one entry with the summed weight"
    if variant not in models:
        close = did_you_mean(variant, list(models))
        return (f"role {variant!r} is not declared (model roles: {sorted(models)})"
                + (f"; did you mean {close!r}?" if close else "")
                + "; a split's variants are model roles (ref + model) of the same registry")
    if not models[variant]:
        return (f"role {variant!r} cannot serve a chat call (no 'text' or 'structured_output' modality); "
                "a split's variants answer chat calls")
    return None


__all__ = ["SplitArm", "SplitEntry", "split_point", "is_split", "split_problems"]
