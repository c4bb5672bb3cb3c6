"""IR back end: an :class:`~tierflow.ir.IRModule` as JSON.

``manifest.models[]`` holds one ``IRModelDecl`` per model role (``ref`` becomes ``provider``),
``manifest.splits[]`` the traffic splits as written (only when there are any); ``nodes`` and
``edges`` follow, with references written as ``{"ref": [node_id, key]}``.
"""

from __future__ import annotations

import json
from typing import Any

from tierflow.ir import IRModule, IRNode, IRRef, model_decl, split_decl


def ir_to_json(module: IRModule) -> dict[str, Any]:
    """The JSON value of a module: ``{"schema_version", "manifest", "nodes", "edges"}``."""
    manifest: dict[str, Any] = {"name": module.name, "models": [model_decl(m) for m in module.models]}
    if module.splits:
        manifest["splits"] = [split_decl(s) for s in module.splits]
    if module.variables:
        manifest["variables"] = module.variables
    if module.meta:
        manifest["meta"] = module.meta
    return {
        "schema_version": module.schema_version,
        "manifest": manifest,
        "nodes": [_node(n) for n in module.nodes],
        "edges": [{"source": e.source, "target": e.target, **({"soft": True} if e.soft else {})}
                  for e in module.edges],
    }


def emit_ir(module: IRModule) -> str:
    """The module as indented JSON text."""
    return json.dumps(ir_to_json(module), indent=2, ensure_ascii=False) + "\n"


def _node(n: IRNode) -> dict[str, Any]:
    out: dict[str, Any] = {"id": n.id, "kind": n.kind}
    if n.label is not None:
        out["label"] = n.label
    out["config"] = n.config
    if n.inputs:
        out["inputs"] = {k: v.to_json() if isinstance(v, IRRef) else v for k, v in n.inputs.items()}
    if n.outputs:
        out["outputs"] = n.outputs
    if n.meta:
        out["meta"] = n.meta
    return out


__all__ = ["ir_to_json", "emit_ir"]
