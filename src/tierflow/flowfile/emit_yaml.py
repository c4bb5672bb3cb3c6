"""YAML back end: the deploy manifest, with everything a lossless import needs.

::

    core:
      name: Customer Support
      model: local/qwen2.5-coder-1.5b-instruct     # the primary, "<ref>/<model>"
      scaiflow_meta:
        schema_version: 1
        models: [...]                               # the full registry, as in the flow file
        variables: {...}                            # and description / meta when set
    steps:
      - id: classify
        kind: llm
        config: {llm_role: fast, ...}               # as in the flow file
        resolved_model: local/smollm2-135m-instruct # informative; ignored on import (a split
                                                    # role lists its variants' models)
        scaiflow_meta: {position: {x: 0, y: 0}}     # canvas data
    edges: [...]

:func:`tierflow.flowfile.importer.import_manifest` reads it back into the same flow.
"""

from __future__ import annotations

from typing import Any

import yaml

from tierflow.flowfile.format import FlowFile, LLMNode
from tierflow.flowfile.lower import resolve_role

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available: ~10x faster

CANVAS_KEYS = ("position", "ui")
"""Node keys that go under ``steps[].scaiflow_meta``."""


def manifest_from_flow(flow: FlowFile) -> dict[str, Any]:
    """The manifest value of a (compiled, hence valid) flow."""
    data = flow.to_json()
    models = data["config"]["core_identity"]["models"]
    by_role = {m["role"]: m for m in models}
    primary = models[0]
    meta: dict[str, Any] = {"schema_version": data["schema_version"], "models": models}
    if "description" in data["config"]:
        meta["description"] = data["config"]["description"]
    for key in ("variables", "meta"):
        if key in data:
            meta[key] = data[key]
    steps = []
    for node, raw in zip(flow.nodes, data["nodes"]):
        step = {k: v for k, v in raw.items() if k not in CANVAS_KEYS}
        if isinstance(node, LLMNode):
            step["resolved_model"] = _resolved(by_role.get(resolve_role(node, primary["role"]), primary), by_role)
        canvas = {k: raw[k] for k in CANVAS_KEYS if k in raw}
        if canvas:
            step["scaiflow_meta"] = canvas
        steps.append(step)
    manifest: dict[str, Any] = {
        "core": {"name": data["config"]["core_identity"]["name"],
                 "model": f"{primary['ref']}/{primary['model']}",
                 "scaiflow_meta": meta},
        "steps": steps,
    }
    if "edges" in data:
        manifest["edges"] = data["edges"]
    return manifest


def _resolved(entry: dict[str, Any], by_role: dict[str, dict[str, Any]]) -> str:
    """``ref/model`` of a model role; a split's variants with their weights."""
    if "split" not in entry:
        return f"{entry['ref']}/{entry['model']}"
    arms = [(a["role"], by_role[a["role"]]) for a in entry["split"]]
    return "split: " + ", ".join(f"{role} {a['weight']:g} -> {m['ref']}/{m['model']}"
                                 for (role, m), a in zip(arms, entry["split"]))


def emit_yaml(flow: FlowFile) -> str:
    """The manifest as YAML text (keys in a stable, readable order)."""
    return yaml.dump(manifest_from_flow(flow), Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=100)


__all__ = ["CANVAS_KEYS", "manifest_from_flow", "emit_yaml"]
