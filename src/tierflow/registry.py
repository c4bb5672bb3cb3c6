"""The model registry: roles (``primary``, ``fast``, ``critic``...) bound to provider + model.

The shape is the flow file's ``config.core_identity.models[]`` (README, Roles and config)::

    {"role": "fast", "ref": "openai", "model": "gpt-4o-mini", "temperature": 0.2,
     "modalities": ["text"], "system_context": "...",
     "fallback": [{"ref": "anthropic", "model": "claude-3-5-haiku-latest"}]}

Rules: at least one entry; ``role`` matches ``^[a-z][a-z0-9_]*$`` and is unique; ``temperature``
is within 0.0-2.0; ``modalities`` come from a closed list (default ``["text"]``);
``system_context`` needs a text modality (``text`` or ``structured_output``).
:func:`parse_registry` reports every problem at once, each naming the entry (index and role) and
the field.

The implicit primary: the **first entry** serves whatever pins no role (:meth:`Registry.resolve`
with ``None``). ``primary`` is otherwise a role name like any other: naming it when no entry is
called ``primary`` is an unknown role (README, "Roles and config").

Modalities: a chat call (LLM nodes, ``tierflow call``, patterns) needs a role with ``text`` or
``structured_output``; :meth:`Registry.get` refuses any other role for chat, so an
embedding-only role is never sent a chat request.

Traffic splits: an entry ``{role: chat, split: [{role: current, weight: 0.9}, ...]}`` is a role
whose calls go to one of its variants by weight (:mod:`tierflow.splits`); it cannot be the first
entry. :attr:`Registry.entries` holds the model roles, :attr:`Registry.splits` the splits.

This module imports nothing else of tierflow but the errors and splits, so every layer can use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow.errors import ConfigError, ModalityError, Problem, UnknownRoleError
from tierflow.splits import SplitArm, SplitEntry, is_split, split_problems

ROLE_PATTERN = r"^[a-z][a-z0-9_]*$"
_ROLE_RE = re.compile(ROLE_PATTERN)

Modality = Literal["text", "structured_output", "vision", "tts", "stt", "embedding", "image_generation"]
MODALITIES: tuple[str, ...] = ("text", "structured_output", "vision", "tts", "stt", "embedding",
                               "image_generation")
CHAT_MODALITIES: frozenset[str] = frozenset({"text", "structured_output"})
"""A role serves chat calls (LLM nodes, ``tierflow call``, patterns) when it has one of these."""
_TEXT_MODALITIES = CHAT_MODALITIES


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
    """One role of the model registry: a name bound to a provider and a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(pattern=ROLE_PATTERN, description="Role name (lowercase, digits, underscores; starts "
                                                        "with a letter); unique within the registry.")
    ref: str = Field(min_length=1, description="Provider key (a provider of the project config).")
    model: str = Field(min_length=1, description="Model id within the provider.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="0.0 to 2.0; text modalities.")
    modalities: list[Modality] = Field(default_factory=_text_only, description=(
        "What the model does; LLM nodes and chat calls need 'text' or 'structured_output'."))
    system_context: str | None = Field(default=None, description="System prompt of the role (text modalities).")
    max_tokens: int | None = Field(default=None, ge=1, description=(
        "Output cap of the role (a call's own max_tokens wins); unset: the provider's default."))
    fallback: list[Target] = Field(default_factory=list, description="Targets tried in order when the role's "
                                                                      "own target fails.")

    @property
    def target(self) -> Target:
        return Target(ref=self.ref, model=self.model)

    @property
    def chain(self) -> list[Target]:
        """The primary target followed by the fallbacks, in the order they are tried."""
        return [self.target, *self.fallback]

    @property
    def serves_chat(self) -> bool:
        """True when the role can answer a chat call (a text or structured-output modality)."""
        return not CHAT_MODALITIES.isdisjoint(self.modalities)


class Registry:
    """An ordered, validated set of roles. The first entry serves calls that pin no role.

    ``entries`` are the model roles (iteration and ``len`` cover them); ``splits`` maps each
    traffic split's role to its :class:`~tierflow.splits.SplitEntry`.
    """

    def __init__(self, entries: Sequence[ModelEntry], splits: Sequence[SplitEntry] = ()) -> None:
        if not entries:
            raise ConfigError([Problem("models", "at least one model entry is required")])
        self.entries: tuple[ModelEntry, ...] = tuple(entries)
        self._by_role = {e.role: e for e in self.entries}
        self.splits: dict[str, SplitEntry] = {s.role: s for s in splits}

    @property
    def primary(self) -> ModelEntry:
        """The first entry: the implicit default of nodes and calls that pin no role."""
        return self.entries[0]

    @property
    def roles(self) -> list[str]:
        """Every role name: the model roles, then the splits."""
        return [*(e.role for e in self.entries), *self.splits]

    def __contains__(self, role: object) -> bool:
        return role in self._by_role or role in self.splits

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def chat_roles(self) -> list[str]:
        """The roles that can serve a chat call, in registry order (splits always can)."""
        return [*(e.role for e in self.entries if e.serves_chat), *self.splits]

    def get(self, role: str, *, chat: bool = True) -> ModelEntry:
        """The entry for ``role``, for a chat call unless ``chat=False``.

        Raises :class:`UnknownRoleError` (with a "did you mean") for an undeclared role, including
        ``primary`` when no entry has that name, and :class:`ModalityError` when a chat call names
        a role without a chat modality (an embedding-only role, say).
        """
        entry = self._by_role.get(role)
        if entry is None and role in self.splits:
            raise ConfigError([Problem(f"role {role!r}", f"is a traffic split over {self.splits[role].variants}, "
                                       "not a model role; call it through the call layer, which picks a variant, "
                                       "or name one of its variants")])
        if entry is None:
            raise UnknownRoleError(role, sorted(self.roles))
        if chat and not entry.serves_chat:
            raise ModalityError(role, list(entry.modalities), self.chat_roles)
        return entry

    def resolve(self, role: str | None, *, chat: bool = True) -> ModelEntry:
        """Like :meth:`get`; ``None`` (no role pinned) is the first entry."""
        return self.get(self.primary.role if role is None else role, chat=chat)

    def to_list(self) -> list[dict[str, Any]]:
        """The registry's JSON shape, as flow files write it (optional fields omitted when unset;
        splits after the model roles)."""
        return [*(e.model_dump(exclude_none=True, exclude_defaults=False) for e in self.entries),
                *(s.model_dump() for s in self.splits.values())]

    def __repr__(self) -> str:
        return f"Registry({self.roles})"


def _entry_label(index: int, raw: Any) -> str:
    role = raw.get("role") if isinstance(raw, Mapping) else None
    return f"models[{index}]" + (f" (role {role!r})" if isinstance(role, str) and role else "")


def _explain(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing" or (kind == "string_too_short" and err.get("input") == ""):  # left empty: as if absent
        return "is required"
    if kind == "extra_forbidden":
        if err.get("loc", ("",))[0] == "fallback":
            return "is not a known field (a fallback entry has: ref, model)"
        return "is not a known field (expected one of: role, ref, model, temperature, modalities, " \
               "system_context, max_tokens, fallback)"
    if kind == "string_pattern_mismatch":
        return f"{err.get('input')!r} must match {ROLE_PATTERN} (lowercase, digits, underscores; " \
               "starts with a letter)"
    if kind == "literal_error":
        return f"{err.get('input')!r} is not a modality; expected one of {list(MODALITIES)}"
    if kind in ("greater_than_equal", "less_than_equal") and err.get("loc", ("",))[0] == "max_tokens":
        return f"{err.get('input')!r} is out of range; expected a whole number >= 1"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"{err.get('input')!r} is out of range; expected 0.0 to 2.0"
    return str(err.get("msg", "is invalid"))


def _explain_split(err: Mapping[str, Any]) -> str:
    kind, loc = err.get("type", ""), err.get("loc", ())
    if kind == "extra_forbidden":
        return ("is not a known field (a split variant has: role, weight)" if len(loc) > 1 else
                "is not a known field (a split has: role, split; its model settings belong to its variants)")
    if kind == "greater_than" or (kind == "value_error" and loc and loc[-1] == "weight"):
        return f"{err.get('input')!r} is not a valid weight; expected a positive number (weights are relative)"
    if kind == "too_short":
        return "names no variant; expected [{role: <model role>, weight: <positive number>}, ...]"
    return _explain(err)


def _parse_entry(raw: Mapping[str, Any], label: str, first: bool, problems: list[Problem]
                 ) -> ModelEntry | SplitEntry | None:
    """One raw entry as a model role or a split; None (and ``problems`` extended) if invalid."""
    split = is_split(raw)
    if split and first:
        problems.append(Problem(label, "the first entry is the implicit primary and must name a model "
                                       "(ref + model), not a split; move the split after the roles it names"))
    try:
        entry: ModelEntry | SplitEntry = (SplitEntry if split else ModelEntry).model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            problems.append(Problem(f"{label}{loc}", (_explain_split if split else _explain)(err)))
        return None
    if isinstance(entry, ModelEntry) and entry.system_context is not None \
            and not _TEXT_MODALITIES.intersection(entry.modalities):
        problems.append(Problem(f"{label}.system_context", "applies to text modalities only; add "
                                                           "'text' to modalities or remove it"))
    return entry


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
    splits: list[tuple[str, SplitEntry]] = []
    model_roles: dict[str, bool] = {}  # role -> serves chat (an invalid entry counts as declared)
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
            if not is_split(raw):
                model_roles[role] = True
        entry = _parse_entry(raw, label, i == 0, problems)
        if entry is None and is_split(raw):  # still check the variants it names: every problem at once
            entry = _lenient_split(raw)
        if isinstance(entry, SplitEntry):
            splits.append((label, entry))
        elif entry is not None:
            entries.append(entry)
            model_roles[entry.role] = entry.serves_chat
    problems += split_problems(splits, model_roles)
    if problems:
        raise ConfigError(problems, source=source)
    return Registry(entries, [s for _, s in splits])


def _lenient_split(raw: Mapping[str, Any]) -> SplitEntry | None:
    """The roles an invalid split names (unvalidated; for the variant checks only)."""
    arms = raw.get("split")
    role = raw.get("role")
    if not isinstance(arms, list) or not isinstance(role, str):
        return None
    names = [a.get("role") if isinstance(a, Mapping) and isinstance(a.get("role"), str) else "" for a in arms]
    return SplitEntry.model_construct(role=role, split=[SplitArm.model_construct(role=n, weight=1.0) for n in names])


__all__ = ["ROLE_PATTERN", "MODALITIES", "CHAT_MODALITIES", "Modality", "Target", "ModelEntry", "Registry",
           "parse_registry"]
