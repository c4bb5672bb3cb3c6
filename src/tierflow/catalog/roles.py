"""Write a picked model into a project config's ``models:`` registry (README, Roles and config).

The entry is ``{role, ref, model, fallback: [{ref, model}]}`` with ``ref`` the slug's provider
part (``google/...`` becomes ref ``gemini``, tierflow's name for Google's API, unless the config
declares a provider called ``google``), or a free-text ``ref`` + ``model`` pair for a model the
catalog lacks (the picker's "Custom" escape hatch). The file is edited in round-trip mode
(ruamel.yaml): comments, key order, quoting and the other entries stay as they were. It is first
checked for alias bombs (:func:`tierflow._yaml.compose_yaml`), the registry as it will be written is
validated with :func:`tierflow.registry.parse_registry`, and the file is replaced atomically
(:func:`tierflow._files.atomic_write`), so a failure leaves it exactly as it was.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tierflow._files import atomic_write
from tierflow._yaml import compose_yaml, load_yaml
from tierflow.errors import ConfigError, Problem
from tierflow.registry import Target, parse_registry

# Catalog slug prefix -> tierflow's provider name, where they differ (Google's API is "gemini").
REF_ALIASES: dict[str, str] = {"google": "gemini"}


def _known_providers() -> set[str]:
    """Provider names the config knows without a ``providers:`` declaration (README, Configuration)."""
    from tierflow.config import WELL_KNOWN_PROVIDERS

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
    previous: dict[str, Any] | None = None
    """The replaced entry's ``ref`` and ``model`` (None when the role was added)."""


def _target(slug: str, what: str) -> Target:
    try:
        return Target.parse(slug)
    except ValueError as exc:
        raise ConfigError([Problem(what, str(exc))]) from None


def _guess_indents(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) of a YAML text's block style; 2, 2, 0 if none.

    Like ``ruamel.yaml.util.load_yaml_guess_indent``, but the mapping indent is measured apart from
    the sequence one (a file indenting maps by 2 and items as ``  - x`` keeps both).
    """
    mapping = sequence = offset = None
    key_col: int | None = None
    for line in text.splitlines():
        body = line.strip()
        if not body or body.startswith("#"):
            continue
        col = len(line) - len(line.lstrip(" "))
        if key_col is not None and col > key_col:
            if body.startswith("- ") and sequence is None:
                content = col + 2 + len(body[2:]) - len(body[2:].lstrip(" "))
                offset, sequence = col - key_col, content - key_col
            elif not body.startswith("-") and mapping is None:
                mapping = col - key_col
        key_col = col if body.split("#")[0].rstrip().endswith(":") else None
        if mapping is not None and sequence is not None:
            break
    return mapping or 2, sequence or (mapping or 2), offset or 0


def _round_trip(text: str) -> Any:
    """A ruamel.yaml round-trip loader/dumper set to the file's own indentation."""
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap a long line of the user's
    mapping, sequence, offset = _guess_indents(text)
    rt.indent(mapping=mapping, sequence=max(sequence, offset + 2), offset=offset)
    return rt


def _load(path: Path) -> tuple[Any, Any, str]:
    """(round-trip document, its YAML instance, the text) of ``path``; an empty mapping if absent."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    text = ""
    try:
        if path.exists():
            text = path.read_text(encoding="utf-8")
        compose_yaml(text)  # refuses alias bombs and recursive anchors before ruamel builds anything
        rt = _round_trip(text)
        doc = rt.load(text) if text.strip() else None
    except (OSError, UnicodeDecodeError, YAMLError, yaml.YAMLError) as exc:  # ruamel's and PyYAML's errors
        raise ConfigError([Problem(str(path), f"cannot be read as YAML: {exc}; file left unchanged")]) from exc
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, dict):
        raise ConfigError([Problem(str(path), f"expected a mapping at the top level, got {type(doc).__name__}; "
                                              "file left unchanged")])
    return doc, rt, text


def _write(path: Path, text: str) -> None:
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot be written ({exc.strerror}); file left unchanged")]) from exc


def _entry_map(entry: dict[str, Any], like: Any) -> Any:
    """``entry`` as a round-trip mapping, in flow style when the registry's entries are."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    out = CommentedMap()
    for k, v in entry.items():
        if k == "fallback":
            seq = CommentedSeq([CommentedMap(fb) for fb in v])
            out[k] = seq
        else:
            out[k] = v
    if isinstance(like, CommentedMap) and like.fa.flow_style():
        out.fa.set_flow_style()
    return out


def _resolve_target(path: Path, model: str, ref: str | None, declared: set[str],
                    callable_refs: set[str]) -> dict[str, Any]:
    if ref is not None:  # the "Custom" escape hatch: a free-text pair, not looked up anywhere
        if not ref.strip() or not model.strip():
            raise ConfigError([Problem("model", "a custom entry needs a non-empty ref and model")])
        entry = {"ref": ref.strip(), "model": model.strip()}
        what = f"{entry['ref']}/{entry['model']}"
    else:
        target = _target(model, "model")
        entry = {"ref": _ref(target.ref, declared), "model": target.model}
        what = model
    if entry["ref"] not in callable_refs:
        raise ConfigError([Problem(f"{path}: providers", f"provider {entry['ref']!r} of {what!r} is not "
                                   f"declared; add it under providers: (kind, base_url, api_key) and run "
                                   f"the command again; file left unchanged")])
    return entry


def write_role(config: Path | str, role: str, model: str,
               fallback: str | Sequence[str] | None = None, *, ref: str | None = None) -> WriteResult:
    """Put ``role -> model`` into ``config``, leaving it valid and its comments and layout intact.

    ``model`` is a catalog ``provider/model`` slug, or, with ``ref``, a free-text model name served
    by provider ``ref`` (for slugs the catalog lacks). ``fallback`` is a slug, or slugs in order of
    preference: the first whose provider the config can call (declared under ``providers:`` or
    known without a declaration) is written. A model whose provider the config cannot call is
    refused, and the file is left unchanged.
    """
    path = Path(config)
    if path.is_dir():
        raise ConfigError([Problem(str(path), "is a directory, not a config file")])
    if not path.parent.is_dir():
        raise ConfigError([Problem(str(path), f"folder {path.parent} does not exist")])
    doc, rt, original = _load(path)
    if "models" not in doc:
        from ruamel.yaml.comments import CommentedSeq

        doc["models"] = CommentedSeq()
    models = doc["models"]
    if not isinstance(models, list):
        raise ConfigError([Problem(f"{path}: models", "expected a list of model entries; file left unchanged")])
    providers = doc.get("providers")
    declared = set(providers) if isinstance(providers, dict) else set()
    callable_refs = declared | _known_providers()
    entry: dict[str, Any] = {"role": role, **_resolve_target(path, model, ref, declared, callable_refs)}
    skipped: list[str] = []
    for slug in [fallback] if isinstance(fallback, str) else list(fallback or []):
        fb = _target(slug, "fallback")
        if _ref(fb.ref, declared) in callable_refs:
            entry["fallback"] = [{"ref": _ref(fb.ref, declared), "model": fb.model}]
            break
        skipped.append(slug)
    index = next((i for i, e in enumerate(models) if isinstance(e, dict) and e.get("role") == role), None)
    result = WriteResult(path=path, entry=entry, replaced=index is not None)
    if index is None:
        models.append(_entry_map(entry, models[-1] if len(models) else None))
    else:  # keep the role's own settings (temperature, system_context...) and comments, replace the model
        current = models[index]
        result.previous = {"ref": current.get("ref"), "model": current.get("model")}
        for key in ("ref", "model"):
            current[key] = entry[key]
        if "fallback" in entry:
            current["fallback"] = _entry_map(entry, current)["fallback"]
        elif "fallback" in current:
            del current["fallback"]
        result.entry = {k: _plain(v) for k, v in current.items()}
    buf = io.StringIO()
    rt.dump(doc, buf)
    text = buf.getvalue()
    parse_registry(load_yaml(text)["models"], source=str(path))  # raises ConfigError listing every problem
    lost = _comments(original) - _comments(text)
    if lost:  # ruamel.yaml drops a comment line above a flow-style entry that has its own end-of-line comment
        result.notes.append(f"ruamel.yaml could not keep {sum(lost.values())} comment(s); add them back by hand: "
                            + "; ".join(sorted(lost)))
    if skipped and "fallback" not in entry:
        result.notes.append(f"no fallback written: the providers of {skipped[:3]} are not declared under "
                            f"providers: in {path}")
    _write(path, text)
    return result


def _comments(text: str) -> Counter[str]:
    """The comments of a YAML text (``# ...`` outside quotes), counted; for checking none is lost."""
    found: Counter[str] = Counter()
    for line in text.splitlines():
        quote = ""
        for i, ch in enumerate(line):
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
                found[line[i:].strip()] += 1
                break
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


__all__ = ["REF_ALIASES", "WriteResult", "write_role"]
