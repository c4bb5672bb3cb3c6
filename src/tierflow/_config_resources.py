"""The ``resources.yaml`` config form (README, Roles and config), mapped onto ``providers:`` + ``models:``.

Each ``llm:<name>: {_class: OpenAIConfig, model, api_key, base_url}`` becomes role ``<name>``;
identical connection settings share one provider. Private to :mod:`tierflow.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierflow._config_yaml import _Ctx

_RESOURCE_CLASSES: dict[str, tuple[str, frozenset[str]]] = {
    "OpenAIConfig": ("openai", frozenset({"base_url", "organization"})),
    "AzureConfig": ("azure", frozenset({"azure_endpoint", "api_version", "azure_deployment", "base_url"})),
    "GeminiConfig": ("gemini", frozenset({"project_id", "location", "base_url"})),
    "AnthropicConfig": ("anthropic", frozenset({"base_url"})),
}
_RESOURCE_COMMON = frozenset({"_class", "model", "api_key", "temperature", "system_context"})


def is_resources_form(data: Any) -> bool:
    return isinstance(data, Mapping) and any(isinstance(k, str) and k.startswith("llm:") for k in data)


def _from_resources(data: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    """Map ``llm:<name>`` resources onto ``providers`` + ``models`` (path names kept for errors)."""
    providers: dict[str, dict[str, Any]] = {}
    by_conn: dict[tuple[Any, ...], str] = {}
    models: list[dict[str, Any]] = []
    out: dict[str, Any] = {k: v for k, v in data.items()
                           if k in ("reliability", "prices", "strict_cost", "allow_code", "tracing")}
    for key, spec in data.items():
        if key in out:
            continue
        if not (isinstance(key, str) and key.startswith("llm:")):
            ctx.add((key,), "unknown key: a resources file holds `llm:<role>` entries (and optionally "
                            "reliability, prices, strict_cost, allow_code)")
            continue
        role = key[4:]
        if not isinstance(spec, Mapping):
            ctx.add((key,), f"expected a mapping with _class and model, got {type(spec).__name__}")
            continue
        cls = spec.get("_class")
        if cls not in _RESOURCE_CLASSES:
            ctx.add((key, "_class"), f"{cls!r} is not supported; expected one of {sorted(_RESOURCE_CLASSES)}")
            continue
        kind, extra_keys = _RESOURCE_CLASSES[cls]
        for k in spec:
            if k not in _RESOURCE_COMMON and k not in extra_keys:
                ctx.add((key, k), f"unknown key for {cls} (expected: "
                                  f"{sorted((_RESOURCE_COMMON | extra_keys) - {'_class'})})")
        if not spec.get("model"):
            ctx.add((key, "model"), "is required")
            continue
        conn: dict[str, Any] = {"kind": kind}
        base_url = spec.get("azure_endpoint") or spec.get("base_url")
        if base_url:
            conn["base_url"] = base_url
        if spec.get("api_key"):
            conn["api_key"] = spec["api_key"]
        if spec.get("api_version"):
            conn["api_version"] = spec["api_version"]
        options = {k: spec[k] for k in ("project_id", "location", "organization", "azure_deployment") if k in spec}
        if options:
            conn["options"] = options
        ident = (kind, conn.get("base_url"), conn.get("api_key"), conn.get("api_version"), repr(options))
        name = by_conn.get(ident)
        if name is None:
            name = kind if kind not in providers else f"{kind}_{sum(p['kind'] == kind for p in providers.values()) + 1}"
            by_conn[ident] = name
            providers[name] = conn
        entry = {"role": role, "ref": name, "model": spec["model"]}
        for opt in ("temperature", "system_context"):
            if opt in spec:
                entry[opt] = spec[opt]
        models.append(entry)
        ctx.resource_keys.append(key)
    out["providers"] = providers
    out["models"] = models
    return out
