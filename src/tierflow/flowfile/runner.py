"""Running a flow file: lower it, bind its code nodes, and run the IR on the engine.

The flow's own registry (``config.core_identity.models``) names the roles; the project config
(``--config``, ``$TIERFLOW_CONFIG`` or the embedded local default) supplies providers,
reliability settings and prices. Code-node modules are looked up next to the flow file first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import sys
from pathlib import Path
from typing import Any

from tierflow.errors import FlowCompileError, Problem
from tierflow.flowfile.diagnostics import load_flow
from tierflow.flowfile.lower import lower_flow
from tierflow.ir import IRModule


def bind_callables(module: IRModule, base_dir: Path | None = None) -> None:
    """Import every code node's ``config['callable']`` into ``IRNode.fn``; report all failures."""
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    problems: list[Problem] = []
    for node in module.nodes:
        spec = node.config.get("callable") if node.kind == "code" else None
        if spec is None or node.fn is not None:
            continue
        mod_name, _, attr = spec.partition(":")
        try:
            obj: Any = importlib.import_module(mod_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except ImportError as exc:
            problems.append(Problem(f"node {node.id!r}.config.callable",
                                    f"cannot import module {mod_name!r} of {spec!r}: {exc}"))
            continue
        except AttributeError:
            problems.append(Problem(f"node {node.id!r}.config.callable",
                                    f"module {mod_name!r} has no attribute {attr!r}"))
            continue
        if not callable(obj):
            problems.append(Problem(f"node {node.id!r}.config.callable", f"{spec!r} is not callable"))
            continue
        node.fn = obj
    if problems:
        raise FlowCompileError(problems, source=module.name)


_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "integer": (int,),
                                            "boolean": (bool,), "object": (dict,), "array": (list,)}


def run_inputs(module: IRModule, inputs: dict[str, Any]) -> dict[str, Any]:
    """The run's inputs: declared variable defaults, overridden by ``inputs``, type-checked."""
    defaults = {k: v["default"] for k, v in module.variables.items()
                if isinstance(v, dict) and v.get("default") is not None}
    merged = {**defaults, **inputs}
    problems = []
    for name, value in merged.items():
        declared = module.variables.get(name)
        kind = declared.get("type") if isinstance(declared, dict) else None
        types = _JSON_TYPES.get(kind or "")
        if types and (not isinstance(value, types) or (kind != "boolean" and isinstance(value, bool))):
            problems.append(Problem(f"input {name!r}", f"expected a {kind} (variables.{name}.type), "
                                                       f"got {type(value).__name__}"))
    if problems:
        raise FlowCompileError(problems, source=module.name)
    return merged


def make_client(module: IRModule, config_path: str | Path | None) -> Any:
    """A call-layer client whose roles are the flow's registry, on the project's providers."""
    from tierflow.calls import Client
    from tierflow.config import load_config

    config = load_config(config_path)
    roles = set(module.registry.roles)
    routed = {k: v for k, v in config.routed_roles.items() if k not in roles}
    return Client(dataclasses.replace(config, registry=module.registry, routed_roles=routed))


def run_flow_file(path: str | Path, inputs: dict[str, Any], *, config_path: str | Path | None = None,
                  client: Any = None) -> Any:
    """Compile and run a flow file from synchronous code; return the engine's ``RunResult``."""
    return asyncio.run(arun_flow_file(path, inputs, config_path=config_path, client=client))


async def arun_flow_file(path: str | Path, inputs: dict[str, Any], *, config_path: str | Path | None = None,
                         client: Any = None) -> Any:
    """Compile and run a flow file; a client made here is closed on the same event loop."""
    from tierflow.engine import Engine

    path = Path(path)
    module = lower_flow(load_flow(path), source=str(path))
    bind_callables(module, path.resolve().parent)
    own_client = client is None
    client = make_client(module, config_path) if own_client else client
    try:
        return await Engine(module, client=client).run(run_inputs(module, inputs))
    finally:
        if own_client:
            await client.aclose()


def result_to_json(result: Any) -> dict[str, Any]:
    """A ``RunResult`` as plain JSON-able data: ``{"outputs": {...}, "nodes": {id: record}}``."""
    nodes: dict[str, Any] = {}
    records = getattr(result, "nodes", {}) or {}
    items = records.items() if isinstance(records, dict) else ((getattr(r, "id", str(i)), r)
                                                               for i, r in enumerate(records))
    for node_id, rec in items:
        if dataclasses.is_dataclass(rec) and not isinstance(rec, type):
            rec = dataclasses.asdict(rec)
        rec = rec if isinstance(rec, dict) else {"status": str(rec)}
        if "input_tokens" in rec and "tokens" not in rec:
            rec["tokens"] = (rec["input_tokens"] or 0) + (rec.get("output_tokens") or 0)
        nodes[str(node_id)] = rec
    return {"outputs": dict(result), "nodes": nodes}


__all__ = ["bind_callables", "run_inputs", "make_client", "run_flow_file", "arun_flow_file", "result_to_json"]
