"""What running one node means, per IR node kind.

Each factory turns an :class:`~tierflow.ir.IRNode` into an executor: a plain function
``(inputs) -> outputs`` for nodes the scheduler runs inline (prompt, join, sync code), or a
coroutine function ``(inputs, engine) -> outputs`` for nodes that wait (LLM calls, async code,
patterns). Work that does not depend on the run (parsing templates, reading config) happens here,
once, when the engine is built.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from tierflow.errors import GraphBuildError, Problem
from tierflow.ir import IRNode, NodePattern

if TYPE_CHECKING:
    from tierflow.engine.engine import Engine

SyncExec = Callable[[dict[str, Any]], Any]
AsyncExec = Callable[[dict[str, Any], "Engine"], Awaitable[Any]]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def compile_template(text: str) -> Callable[[Mapping[str, Any]], str]:
    """``"Q: {query}"`` -> a renderer. Unknown placeholders and other braces stay as written."""
    parts = _PLACEHOLDER.split(text)
    if len(parts) == 1:
        return lambda _vars: text
    literals, names = parts[0::2], parts[1::2]

    def render(variables: Mapping[str, Any]) -> str:
        out = [literals[0]]
        for name, lit in zip(names, literals[1:]):
            value = variables.get(name, _MISSING)
            out.append("{" + name + "}" if value is _MISSING else ("" if value is None else str(value)))
            out.append(lit)
        return "".join(out)
    return render


_MISSING = object()


def _message_renderers(template: Mapping[str, Any]) -> list[tuple[str, Callable[[Mapping[str, Any]], str]]]:
    renderers = []
    if isinstance(template.get("system"), str):
        renderers.append(("system", compile_template(template["system"])))
    for m in template.get("messages", []) or []:
        renderers.append((m.get("role", "user"), compile_template(str(m.get("content", "")))))
    if isinstance(template.get("user"), str):
        renderers.append(("user", compile_template(template["user"])))
    return renderers


def prompt_executor(node: IRNode) -> SyncExec:
    """Renders ``messages`` from the node's templates (or a ``prompt`` input given at run time)."""
    renderers = _message_renderers(node.config)

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        active = renderers
        dynamic = inputs.get("prompt")
        if dynamic is not None:
            template = {"user": dynamic} if isinstance(dynamic, str) else (
                {"messages": dynamic} if isinstance(dynamic, list) else dynamic)
            active = _message_renderers(template)
        return {"messages": [{"role": role, "content": r(inputs)} for role, r in active]}
    return run


def join_executor(node: IRNode) -> SyncExec:
    return lambda inputs: inputs


def code_function(node: IRNode) -> Callable[..., Any]:
    """The code node's bound function. A function named only by ``config['callable']`` (a flow
    file's) is never imported here: :func:`tierflow.flowfile.bind_callables` binds it, under the
    modules the user allows (README, Security)."""
    if node.fn is not None and not isinstance(node.fn, NodePattern):
        return node.fn

    raise GraphBuildError([Problem(f"node {node.id!r}.config.callable", (
        f"names {node.config.get('callable')!r}, and no function is bound to it: a flow's code runs only "
        "once bound with the modules you allow (tierflow run --allow-code MODULE, or "
        "tierflow.flowfile.bind_callables(module, allow_code=[...]); README, Security)"))])


def is_async_callable(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or (
        not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__))


def code_executor(node: IRNode) -> tuple[Callable[..., Any], bool]:
    """(executor, is_async) for a code node: the function called with the inputs as keywords."""
    fn = code_function(node)
    if is_async_callable(fn):
        async def run_async(inputs: dict[str, Any], _engine: Engine) -> Any:
            return await fn(**inputs)
        return run_async, True
    return (lambda inputs: fn(**inputs)), False


_LLM_PARAMS = ("temperature", "max_tokens", "stop", "response_format", "logprobs", "top_logprobs",
               "deadline_s", "split_key")
"""Call settings a node's inputs may set per run (``split_key``: a user id keeping a traffic split sticky)."""


def llm_executor(node: IRNode) -> AsyncExec:
    """Calls ``engine.client.acall(role, messages, fallback=..., ...)``; outputs the answer."""
    config = node.config
    pinned = config.get("llm_role")  # None: the registry's first entry (the implicit primary)
    fallback = list(config.get("fallback") or []) or None
    params = {k: v for k, v in config.items()
              if k not in ("llm_role", "fallback", "on_error", "provider", "model") and v is not None}

    async def run(inputs: dict[str, Any], engine: Engine) -> dict[str, Any]:
        messages = inputs.get("messages")
        if messages is None:
            raise ValueError(f"LLM node {node.id!r} got no messages (its 'messages' input is None)")
        call_params = dict(params)
        for key in _LLM_PARAMS:  # run-time overrides through inputs
            if key in inputs:
                call_params[key] = inputs[key]
        role = pinned if pinned is not None else engine.client.registry.primary.role
        result = await engine.client.acall(role, messages, fallback=fallback, **call_params)
        return {"content": result.text, "model_used": result.model_used, "usage": result.usage,
                "cost_usd": result.cost_usd, "call": result}
    return run


def pattern_executor(node: IRNode) -> AsyncExec:
    """Runs a pattern node's pattern object (:attr:`IRNode.fn`).

    The engine does not build patterns: a Python graph carries its pattern objects, and a flow
    file's are built by :func:`tierflow.flowfile.bind_callables` (or
    :func:`tierflow.patterns.bind_patterns` for an IR module made by hand).
    """
    pattern = node.fn
    if not isinstance(pattern, NodePattern):
        raise GraphBuildError([Problem(f"node {node.id!r}", "is a pattern node without its pattern object: "
                                       "call tierflow.patterns.bind_patterns(module) before building the "
                                       "Engine (flow files do this when they compile)")])

    async def run(inputs: dict[str, Any], engine: Engine) -> Any:
        return await pattern.execute(inputs, engine.client)
    return run


__all__ = [
    "code_executor",
    "compile_template",
    "is_async_callable",
    "join_executor",
    "llm_executor",
    "pattern_executor",
    "prompt_executor",
]
