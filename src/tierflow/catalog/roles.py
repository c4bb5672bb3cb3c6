"""Write a picked model into a project config's ``models:`` registry (seed 001 shape).

The entry is ``{role, ref, model, fallback: [{ref, model}]}`` with ``ref`` the slug's provider
part (``google/...`` becomes ref ``gemini``, tierflow's name for Google's API, unless the config
declares a provider called ``google``). The new registry is validated with
:func:`tierflow.registry.parse_registry` before anything is written, and the file is replaced
atomically (temporary file + ``os.replace``), so a failure leaves it exactly as it was. PyYAML
does not keep comments: when the file had some, the result says so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierflow.errors import ConfigError, Problem
from tierflow.registry import Target, parse_registry

# Catalog slug prefix -> tierflow's provider name, where they differ (Google's API is "gemini").
REF_ALIASES: dict[str, str] = {"google": "gemini"}


def _known_providers() -> set[str]:
    """Provider names the config layer knows without a declaration (contract 1)."""
    try:
        from tierflow.config import WELL_KNOWN_PROVIDERS
    except ImportError:  # pragma: no cover - the config layer is another part of the project
        return {"local"}
    return set(WELL_KNOWN_PROVIDERS)


def _ref(slug_provider: str, declared: set[str]) -> str:
    """The ``ref`` to write for a catalog slug's provider part."""
    if slug_provider in declared:
        return slug_provider
    return REF_ALIASES.get(slug_provider, slug_provider)


@dataclass
class WriteResult:
    """What was written, and anything the user should know."""

    path: Path
    entry: dict[str, Any]
    replaced: bool
    notes: list[str] = field(default_factory=list)


def _target(slug: str, what: str) -> Target:
    try:
        return Target.parse(slug)
    except ValueError as exc:
        raise ConfigError([Problem(what, str(exc))]) from None


def _load(path: Path) -> tuple[dict[str, Any], str]:
    import yaml

    if not path.exists():
        return {}, ""
    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([Problem(str(path), f"cannot be read as YAML: {exc}; file left unchanged")]) from exc
    if doc is None:
        return {}, text
    if not isinstance(doc, dict):
        raise ConfigError([Problem(str(path), f"expected a mapping at the top level, got {type(doc).__name__}; "
                                              "file left unchanged")])
    return doc, text


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot be written ({exc.strerror}); file left unchanged")]) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError([Problem(str(path), f"cannot be written ({exc.strerror}); file left unchanged")]) from exc


def write_role(config: Path | str, role: str, model: str,
               fallback: str | Sequence[str] | None = None) -> WriteResult:
    """Put ``role -> model`` (a ``provider/model`` slug) into ``config``, leaving it valid.

    ``fallback`` is a slug, or slugs in order of preference: the first whose provider the config
    can call (declared under ``providers:`` or known without a declaration) is written. A model
    whose provider the config cannot call is refused, and the file is left unchanged.
    """
    import yaml

    path = Path(config)
    if path.is_dir():
        raise ConfigError([Problem(str(path), "is a directory, not a config file")])
    if not path.parent.is_dir():
        raise ConfigError([Problem(str(path), f"folder {path.parent} does not exist")])
    doc, text = _load(path)
    models = doc.get("models", [])
    if not isinstance(models, list):
        raise ConfigError([Problem(f"{path}: models", "expected a list of model entries; file left unchanged")])
    providers = doc.get("providers")
    declared = set(providers) if isinstance(providers, dict) else set()
    callable_refs = declared | _known_providers()
    target = _target(model, "model")
    entry: dict[str, Any] = {"role": role, "ref": _ref(target.ref, declared), "model": target.model}
    if entry["ref"] not in callable_refs:
        raise ConfigError([Problem(f"{path}: providers", f"provider {entry['ref']!r} of {model!r} is not "
                                   f"declared; add it under providers: (kind, base_url, api_key) and run "
                                   f"the command again; file left unchanged")])
    skipped: list[str] = []
    for slug in [fallback] if isinstance(fallback, str) else list(fallback or []):
        fb = _target(slug, "fallback")
        if _ref(fb.ref, declared) in callable_refs:
            entry["fallback"] = [{"ref": _ref(fb.ref, declared), "model": fb.model}]
            break
        skipped.append(slug)
    index = next((i for i, e in enumerate(models) if isinstance(e, dict) and e.get("role") == role), None)
    new_models = list(models)
    if index is None:
        new_models.append(entry)
    else:  # keep the role's own settings (temperature, system_context...), replace the model
        kept = {k: v for k, v in models[index].items() if k not in ("ref", "model", "fallback")}
        entry = {**entry, **kept, "role": role}
        new_models[index] = entry
    parse_registry(new_models, source=str(path))  # raises ConfigError listing every problem
    new_doc = {**doc, "models": new_models}
    result = WriteResult(path=path, entry=entry, replaced=index is not None)
    if any(line.lstrip().startswith("#") or " #" in line for line in text.splitlines()):
        result.notes.append("comments in the file were not kept (PyYAML drops them)")
    if skipped and "fallback" not in entry:
        result.notes.append(f"no fallback written: the providers of {skipped[:3]} are not declared under "
                            f"providers: in {path}")
    atomic_write_text(path, yaml.safe_dump(new_doc, sort_keys=False, allow_unicode=True))
    return result


__all__ = ["REF_ALIASES", "WriteResult", "atomic_write_text", "write_role"]
