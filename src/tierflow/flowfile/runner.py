"""Running a flow file: lower it, bind its code nodes, and run the IR on the engine.

The flow's own registry (``config.core_identity.models``) names the roles; the project config
(``--config``, ``$TIERFLOW_CONFIG`` or the embedded local default) supplies providers,
reliability settings, prices and the modules whose code flows may run (``allow_code``). Every
name the flow looks up, providers included, is checked against it before anything runs, and
problems blame the flow file. Code runs only from allowed modules (:mod:`tierflow.flowfile.trust`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tierflow.errors import FlowCompileError, Problem
from tierflow.flowfile.diagnostics import load_flow, node_label
from tierflow.flowfile.lower import lower_flow
from tierflow.flowfile.trust import bind_callables
from tierflow.ir import IRModule

_JSON_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "integer": (int,),
                                            "boolean": (bool,), "object": (dict,), "array": (list,)}


def run_inputs(module: IRModule, inputs: dict[str, Any]) -> dict[str, Any]:
    """The run's inputs: declared variable defaults, overridden by ``inputs``, type-checked."""
    defaults = {k: v["default"] for k, v in module.variables.items()
                if isinstance(v, dict) and v.get("default") is not None}
    merged = {**defaults, **inputs}
    problems = [p for name, value in merged.items() if (p := _input_problem(module, name, value)) is not None]
    if problems:
        raise FlowCompileError(problems, source=module.name)
    return merged


def _input_problem(module: IRModule, name: str, value: Any) -> Problem | None:
    """What is wrong with run input ``name`` for the type its variable declares, or None."""
    declared = module.variables.get(name)
    kind = declared.get("type") if isinstance(declared, dict) else None
    types = _JSON_TYPES.get(kind or "")
    if types and (not isinstance(value, types) or (kind != "boolean" and isinstance(value, bool))):
        return Problem(f"input {name!r}", f"expected a {kind} (variables.{name}.type), got {type(value).__name__}")
    return None


def make_client(module: IRModule, config: Any) -> Any:
    """A call-layer client whose roles are the flow's registry, on the project's providers
    (``config``: a loaded project config, or a path / None to load one)."""
    from tierflow.calls import Client
    from tierflow.config import ProjectConfig, load_config

    if not isinstance(config, ProjectConfig):
        config = load_config(config)
    roles = set(module.registry.roles)
    routed = {k: v for k, v in config.routed_roles.items() if k not in roles}
    return Client(dataclasses.replace(config, registry=module.registry, routed_roles=routed))


def run_flow_file(path: str | Path, inputs: dict[str, Any], *, config_path: str | Path | None = None,
                  client: Any = None, allow_code: Iterable[str] = (),
                  code_path: Iterable[str | Path] = (), tracer: Any = None) -> Any:
    """Compile and run a flow file from synchronous code; return the engine's ``RunResult``."""
    return asyncio.run(arun_flow_file(path, inputs, config_path=config_path, client=client,
                                      allow_code=allow_code, code_path=code_path, tracer=tracer))


async def arun_flow_file(path: str | Path, inputs: dict[str, Any], *, config_path: str | Path | None = None,
                         client: Any = None, allow_code: Iterable[str] = (),
                         code_path: Iterable[str | Path] = (), tracer: Any = None) -> Any:
    """Compile and run a flow file; a client made here is closed on the same event loop.
    ``tracer``: tracers of the run (``engine.run(tracer=...)``, docs/tracing.md).

    ``allow_code`` adds to the project config's ``allow_code`` (``"*"``: every module the flow
    names); ``code_path`` lists folders to import the flow's modules from (README, Security).
    """
    from tierflow.config import load_config
    from tierflow.engine import Engine

    path = Path(path)
    flow = load_flow(path)
    config = client.config if client is not None else load_config(config_path)
    module = lower_flow(flow, source=str(path), project=config)
    index = {n.id: i for i, n in enumerate(flow.nodes)}

    def label(node: Any) -> str:
        flow_id = node.meta.get("flow_id", node.id)
        return node_label(index[flow_id], {"id": flow_id}) if flow_id in index else f"node {flow_id!r}"

    bind_callables(module, allow_code=[*config.allow_code, *allow_code], code_path=code_path,
                   source=str(path), label=label)
    own_client = client is None
    client = make_client(module, config) if own_client else client
    try:
        return await Engine(module, client=client).run(run_inputs(module, inputs), tracer=tracer or None)
    finally:
        if own_client:
            await client.aclose()


def result_to_json(result: Any) -> dict[str, Any]:
    """A ``RunResult`` as plain JSON-able data: ``{"outputs": {...}, "nodes": {id: record}}``."""
    records = getattr(result, "nodes", {}) or {}
    items = records.items() if isinstance(records, dict) else ((getattr(r, "id", str(i)), r)
                                                               for i, r in enumerate(records))
    return {"outputs": dict(result), "nodes": {str(node_id): _record_json(rec) for node_id, rec in items}}


def _record_json(rec: Any) -> dict[str, Any]:
    """One node record as a dict, with ``tokens`` (input + output) when it has token counts."""
    if dataclasses.is_dataclass(rec) and not isinstance(rec, type):
        rec = dataclasses.asdict(rec)
    out: dict[str, Any] = rec if isinstance(rec, dict) else {"status": str(rec)}
    if "input_tokens" in out and "tokens" not in out:
        out["tokens"] = (out["input_tokens"] or 0) + (out.get("output_tokens") or 0)
    return out


__all__ = ["bind_callables", "run_inputs", "make_client", "run_flow_file", "arun_flow_file", "result_to_json"]
