"""The files the console edits, and how an edit becomes the file's next text (docs/console.md).

Two kinds of file hold a model registry: a flow file (JSON, ``config.core_identity.models`` and
its LLM nodes' ``llm_role``) and the gateway's own config (YAML, ``models:``). The page sends the
registry (and, for a flow, each LLM node's role); :func:`candidate_text` applies that to the text
on disk: a flow is written as tierflow writes flows (2-space JSON, keys in the file's order), a
YAML config keeps its comments, layout and every other section (ruamel.yaml round trip, as
``tierflow models pick --write-role`` does). Nothing else of a file is ever sent to the page:
never a provider's settings (keys).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tierflow._yaml import compose_yaml, load_yaml
from tierflow.config import WELL_KNOWN_PROVIDERS
from tierflow.errors import GatewayError

FileKind = Literal["flow", "gateway"]
_SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"})
_MAX_FILES = 200
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class EditableFile:
    """One file the console may open: ``name`` is what the page uses (relative to the workspace)."""

    name: str
    path: Path
    kind: FileKind


def version_of(text: str) -> str:
    """The version the page echoes back on save: the sha256 of the text it was built from."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Workspace:
    """The gateway's config (when it is a file) and the flow files under ``root``."""

    def __init__(self, root: Path, gateway_config: Path | None) -> None:
        self.root = root.resolve()
        self.gateway_config = gateway_config.resolve() if gateway_config is not None else None

    def files(self) -> list[EditableFile]:
        out: list[EditableFile] = []
        if self.gateway_config is not None and self.gateway_config.is_file():
            out.append(EditableFile(self._name(self.gateway_config), self.gateway_config, "gateway"))
        out += [EditableFile(self._name(p), p, "flow") for p in self._flow_files()]
        return out

    def get(self, name: str) -> EditableFile:
        """The listed file called ``name`` (only listed files: no path from the page is opened)."""
        for f in self.files():
            if f.name == name:
                return f
        raise GatewayError(404, f"no editable file {name!r}: the console opens the gateway's config and the flow "
                           f"files under {self.root}", param="path", code="file_not_found")

    def _name(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _flow_files(self) -> Iterator[Path]:
        count = 0
        for path in sorted(_walk(self.root, 0)):
            if count >= _MAX_FILES:
                return
            if _looks_like_flow(path):
                count += 1
                yield path


def _walk(folder: Path, depth: int) -> Iterator[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
            continue
        if entry.is_dir() and not entry.is_symlink() and depth < _MAX_DEPTH:
            yield from _walk(entry, depth + 1)
        elif entry.suffix == ".json" and entry.is_file():
            yield entry


def _looks_like_flow(path: Path) -> bool:
    try:
        if path.stat().st_size > 4 * 1024 * 1024:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "schema_version" in data and "nodes" in data


def read_text(f: EditableFile) -> str:
    try:
        return f.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayError(400, f"cannot read {f.name} ({type(exc).__name__})", code="file_unreadable") from None


# --- what the page gets ------------------------------------------------------------------------


def _edge_view(e: dict[str, Any]) -> dict[str, Any]:
    """An edge as the page draws it; ``caption``: its label, else its condition, else its source handle."""
    view = {k: e.get(k) for k in ("source", "target", "condition", "label") if e.get(k) is not None}
    condition = e.get("condition")
    if isinstance(condition, dict):
        condition = json.dumps(condition, ensure_ascii=False, sort_keys=True)
    caption = next((c for c in (e.get("label"), condition, e.get("source_handle")) if isinstance(c, str) and c), None)
    if caption is not None:
        view["caption"] = caption
    return view


def page_view(f: EditableFile, text: str) -> dict[str, Any]:
    """What the editor shows of a file: its registry, LLM nodes, edges and provider names."""
    view: dict[str, Any] = {"path": f.name, "kind": f.kind, "version": version_of(text), "nodes": [], "edges": []}
    if f.kind == "flow":
        data = _json_object(f, text)
        identity = ((data.get("config") or {}).get("core_identity") or {}) if isinstance(data, dict) else {}
        view["models"] = list(identity.get("models") or [])
        view["nodes"] = [_node_view(n) for n in data.get("nodes") or [] if isinstance(n, dict)]
        view["edges"] = [_edge_view(e) for e in data.get("edges") or [] if isinstance(e, dict)]
        view["providers"] = sorted(WELL_KNOWN_PROVIDERS)
    else:
        data = _yaml_mapping(f, text)
        view["models"] = list(data.get("models") or [])
        providers = data.get("providers")
        declared: Mapping[str, Any] = providers if isinstance(providers, Mapping) else {}
        view["providers"] = sorted(set(map(str, declared)) | set(WELL_KNOWN_PROVIDERS))
    return view


def _node_view(node: Mapping[str, Any]) -> dict[str, Any]:
    raw = node.get("config")
    config: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    out = {k: node.get(k) for k in ("id", "kind", "label", "position")}
    if node.get("kind") == "llm":
        out["llm_role"] = config.get("llm_role") or config.get("model")
    return out


def _json_object(f: EditableFile, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GatewayError(400, f"{f.name} is not valid JSON ({exc}); fix it in an editor first",
                           code="invalid_file") from None
    if not isinstance(data, dict):
        raise GatewayError(400, f"{f.name}: a flow file is a JSON object", code="invalid_file")
    return data


def _yaml_mapping(f: EditableFile, text: str) -> dict[str, Any]:
    import yaml

    try:
        data = load_yaml(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise GatewayError(400, f"{f.name} is not valid YAML ({type(exc).__name__}); fix it in an editor first",
                           code="invalid_file") from None
    if not isinstance(data, dict):
        raise GatewayError(400, f"{f.name}: the config is a YAML mapping", code="invalid_file")
    return data


# --- the page's edit applied to the text on disk ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Edit:
    """What the page may change: the registry, and (flows) LLM nodes' roles by node id."""

    models: list[Any]
    node_roles: dict[str, str]

    @classmethod
    def from_body(cls, body: Any) -> Edit:
        if not isinstance(body, Mapping) or not isinstance(body.get("models"), list):
            raise GatewayError(400, "the body must be a JSON object with 'models' (a list)", code="invalid_json")
        roles = body.get("node_roles") or {}
        if not isinstance(roles, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in roles.items()):
            raise GatewayError(400, "'node_roles' must map node ids to role names", param="node_roles",
                               code="invalid_value")
        return cls(list(body["models"]), dict(roles))


def candidate_text(f: EditableFile, text: str, edit: Edit) -> str:
    """``text`` with ``edit`` applied: what a save writes."""
    if f.kind == "flow":
        return _flow_text(f, text, edit)
    return _yaml_text(text, edit.models)


def _flow_text(f: EditableFile, text: str, edit: Edit) -> str:
    data = _json_object(f, text)
    config = data.setdefault("config", {})
    identity = config.setdefault("core_identity", {}) if isinstance(config, dict) else {}
    if isinstance(identity, dict):
        identity["models"] = edit.models
    for node in data.get("nodes") or []:
        if isinstance(node, dict) and node.get("kind") == "llm" and node.get("id") in edit.node_roles:
            node_config = node.setdefault("config", {})
            role = edit.node_roles[node["id"]]
            node_config["llm_role"] = role
            if "model" in node_config:  # the legacy alias: kept in step so older readers agree
                node_config["model"] = role
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _yaml_text(text: str, models: list[Any]) -> str:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from tierflow.catalog.roles import _round_trip

    compose_yaml(text)  # refuses alias bombs before ruamel builds anything
    rt = _round_trip(text)
    doc = rt.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    current = doc.get("models")
    if not isinstance(current, list):
        current = doc["models"] = CommentedSeq()
    _update_seq(current, models)
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()


def models_section(text: str) -> str:
    """The ``models:`` section of a YAML config, comments kept (the page's YAML preview)."""
    from ruamel.yaml.comments import CommentedMap

    from tierflow.catalog.roles import _round_trip

    rt = _round_trip(text)
    doc = rt.load(text) if text.strip() else None
    out = CommentedMap()
    out["models"] = doc.get("models") if isinstance(doc, dict) else []
    buf = io.StringIO()
    rt.dump(out, buf)
    return buf.getvalue()


def _update_seq(seq: Any, new: list[Any]) -> None:
    """Make ``seq`` equal ``new``, changing only what differs (so unchanged entries keep their comments)."""
    flow = bool(len(seq)) and _is_flow(seq[-1])
    for i, value in enumerate(new):
        if i < len(seq) and isinstance(seq[i], dict) and isinstance(value, dict):
            _update_map(seq[i], value)
        elif i < len(seq):
            if _plain(seq[i]) != value:
                seq[i] = _to_rt(value, flow)
        else:
            seq.append(_to_rt(value, flow))
    del seq[len(new):]


def _update_map(current: Any, new: Mapping[str, Any]) -> None:
    flow = _is_flow(current)
    for key in [k for k in current if k not in new]:
        del current[key]
    for key, value in new.items():
        if key in current and isinstance(current[key], list) and isinstance(value, list) \
                and not _is_flow(current[key]):
            _update_seq(current[key], value)
        elif key not in current or _plain(current[key]) != value:
            current[key] = _to_rt(value, flow)


def _is_flow(node: Any) -> bool:
    fa = getattr(node, "fa", None)
    return bool(fa is not None and fa.flow_style())


def _to_rt(value: Any, flow: bool) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, Mapping):
        out: Any = CommentedMap((k, _to_rt(v, True)) for k, v in value.items())
    elif isinstance(value, list):
        out = CommentedSeq(_to_rt(v, True) for v in value)
    else:
        return value
    if flow or isinstance(value, list):
        out.fa.set_flow_style()
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


__all__ = ["Edit", "EditableFile", "FileKind", "Workspace", "candidate_text", "models_section", "page_view",
           "read_text", "version_of"]
