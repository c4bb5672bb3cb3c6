"""The model registry: roles (``primary``, ``fast``, ``critic``...) bound to provider + model.

The shape is the flow file's ``core_identity.models[]``::

    {"role": "fast", "ref": "openai", "model": "gpt-4o-mini", "temperature": 0.2,
     "modalities": ["text"], "system_context": "...",
     "fallback": [{"ref": "anthropic", "model": "claude-3-5-haiku-latest"}]}

Rules: at least one entry; ``role`` matches ``^[a-z][a-z0-9_]*$`` and is unique; ``temperature``
is within 0.0-2.0; ``modalities`` come from a closed list (default ``["text"]``);
``system_context`` needs a text modality (``text`` or ``structured_output``); the first entry is
the implicit ``primary``. :func:`parse_registry` reports every problem at once, each
naming the entry (index and role) and the field.

This module imports nothing else of tierflow but the errors, so every layer can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow.errors import ConfigError, Problem, UnknownRoleError

ROLE_PATTERN = r"^[a-z][a-z0-9_]*$"
_ROLE_RE = re.compile(ROLE_PATTERN)

Modality = Literal["text", "structured_output", "vision", "tts", "stt", "embedding", "image_generation"]
MODALITIES: tuple[str, ...] = ("text", "structured_output", "vision", "tts", "stt", "embedding",
                               "image_generation")
_TEXT_MODALITIES = frozenset({"text", "structured_output"})


def _text_only() -> list[Modality]:
    return ["text"]


class Target(BaseModel):
    """One concrete place to send a call: a provider key (``ref``) and a model id within it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ref: str = Field(min_length=1)
    model: str = Field(min_length=1)

    def __str__(self) -> str:
        return f"{self.ref}/{self.model}"

    @classmethod
    def parse(cls, spec: str) -> Target:
        """``"provider/model"`` -> Target; the model part may itself contain slashes."""
        ref, sep, model = spec.partition("/")
        if not sep or not ref or not model:
            raise ValueError(f"{spec!r} is not a 'provider/model' string (e.g. 'openai/gpt-4o-mini')")
        return cls(ref=ref, model=model)


class ModelEntry(BaseModel):
    """One role of the registry (seed 001 shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern=ROLE_PATTERN)
    ref: str = Field(min_length=1)
    model: str = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    modalities: list[Modality] = Field(default_factory=_text_only)
    system_context: str | None = None
    fallback: list[Target] = Field(default_factory=list)

    @property
    def target(self) -> Target:
        return Target(ref=self.ref, model=self.model)

    @property
    def chain(self) -> list[Target]:
        """The primary target followed by the fallbacks, in the order they are tried."""
        return [self.target, *self.fallback]


class Registry:
    """An ordered, validated set of roles. The first entry is the implicit ``primary``."""

    def __init__(self, entries: Sequence[ModelEntry]) -> None:
        if not entries:
            raise ConfigError([Problem("models", "at least one model entry is required")])
        self.entries: tuple[ModelEntry, ...] = tuple(entries)
        self._by_role = {e.role: e for e in self.entries}

    @property
    def primary(self) -> ModelEntry:
        return self.entries[0]

    @property
    def roles(self) -> list[str]:
        return [e.role for e in self.entries]

    def __contains__(self, role: object) -> bool:
        return role in self._by_role or role == "primary"

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, role: str) -> ModelEntry:
        """The entry for ``role``; ``"primary"`` always resolves to the first entry."""
        entry = self._by_role.get(role)
        if entry is None and role == "primary":
            return self.primary
        if entry is None:
            raise UnknownRoleError(role, sorted(self.roles))
        return entry

    def to_list(self) -> list[dict[str, Any]]:
        """The JSON shape of seed 001 (optional fields omitted when unset)."""
        return [e.model_dump(exclude_none=True, exclude_defaults=False) for e in self.entries]

    def __repr__(self) -> str:
        return f"Registry({self.roles})"


def _entry_label(index: int, raw: Any) -> str:
    role = raw.get("role") if isinstance(raw, Mapping) else None
    return f"models[{index}]" + (f" (role {role!r})" if isinstance(role, str) and role else "")


def _explain(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        if err.get("loc", ("",))[0] == "fallback":
            return "is not a known field (a fallback entry has: ref, model)"
        return "is not a known field (expected one of: role, ref, model, temperature, modalities, " \
               "system_context, fallback)"
    if kind == "string_pattern_mismatch":
        return f"{err.get('input')!r} must match {ROLE_PATTERN} (lowercase, digits, underscores; " \
               "starts with a letter)"
    if kind == "literal_error":
        return f"{err.get('input')!r} is not a modality; expected one of {list(MODALITIES)}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{err.get('input')!r} is out of range; expected 0.0 to 2.0"
    return str(err.get("msg", "is invalid"))


def parse_registry(data: Any, *, where: str = "models", source: str | None = None) -> Registry:
    """Validate a raw ``models`` list and return a :class:`Registry`, listing every problem."""
    if not isinstance(data, list):
        raise ConfigError([Problem(where, f"expected a list of model entries, got {type(data).__name__}")],
                          source=source)
    problems: list[Problem] = []
    if not data:
        problems.append(Problem(where, "at least one model entry is required (the first is the "
                                       "implicit 'primary')"))
    entries: list[ModelEntry] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data):
        label = f"{where}[{i}]" + _entry_label(i, raw)[len(f"models[{i}]"):]
        if not isinstance(raw, Mapping):
            problems.append(Problem(label, f"expected an object, got {type(raw).__name__}"))
            continue
        # duplicates are checked on the raw value, so they are reported even when the entry
        # has other problems
        role = raw.get("role")
        if isinstance(role, str) and role in seen:
            problems.append(Problem(f"{label}.role", f"duplicate role {role!r} (first declared "
                                                     f"at {where}[{seen[role]}]); roles must be unique"))
        elif isinstance(role, str):
            seen[role] = i
        try:
            entry = ModelEntry.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
                problems.append(Problem(f"{label}{loc}", _explain(err)))
            continue
        if entry.system_context is not None and not _TEXT_MODALITIES.intersection(entry.modalities):
            problems.append(Problem(f"{label}.system_context", "applies to text modalities only; add "
                                                               "'text' to modalities or remove it"))
        entries.append(entry)
    if problems:
        raise ConfigError(problems, source=source)
    return Registry(entries)


__all__ = ["ROLE_PATTERN", "MODALITIES", "Modality", "Target", "ModelEntry", "Registry", "parse_registry"]
