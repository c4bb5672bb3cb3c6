"""The engine: runs an IR module (or a Python-API graph) on asyncio. Semantics: see the package doc.

Speed comes from the plan (``tierflow.engine.plan``) and from running synchronous nodes inline:
prompt, join, branch and plain-function code nodes execute directly in the scheduler loop, with
no asyncio Task; only nodes that wait (LLM calls, async functions, patterns) become Tasks, and a
lone waiting node with nothing else to do is awaited directly.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from tierflow import _trace_frame
from tierflow.engine.plan import ASYNC, BRANCH, EXIT, SYNC, Plan, compile_plan
from tierflow.engine.result import RunResult
from tierflow.errors import GraphBuildError, NodeExecutionError, RunInputError, RunKeywordError
from tierflow.graph.roles import Names, role_problems
from tierflow.graph.validation import check
from tierflow.ir import IRModule

_UNSET = object()
_KEYWORD_NOTES: dict[str, str] = {}


def _reducer(spec: Any) -> Callable[[Any, Any], Any]:
    if callable(spec):
        return lambda old, new: new if old is _UNSET else spec(old, new)
    table: dict[str, Callable[[Any, Any], Any]] = {
        "append": lambda old, new: [new] if old is _UNSET else [*old, new],
        "extend": lambda old, new: list(new or []) if old is _UNSET else [*old, *(new or [])],
        "sum": lambda old, new: new if old is _UNSET else old + new,
        "min": lambda old, new: new if old is _UNSET else min(old, new),
        "max": lambda old, new: new if old is _UNSET else max(old, new),
        "first": lambda old, new: new if old is _UNSET else old,
        "last": lambda old, new: new,
    }
    return table[spec]


def _as_outputs(value: Any) -> dict[str, Any]:
    """A node's return value as its outputs: a dict as is, any other value under ``result``."""
    if type(value) is dict:
        return value
    if isinstance(value, Mapping):
        return dict(value)
    return {"result": value}


def _to_module(graph: Any) -> IRModule:
    if isinstance(graph, IRModule):
        return check(graph)
    to_ir = getattr(graph, "to_ir", None)
    if callable(to_ir):
        return to_ir()
    raise TypeError(f"Engine runs a GraphNode or an IRModule, got {type(graph).__name__}")


class Engine:
    """Runs one graph, many times. Build once (validation and planning happen here), run often.

    ``client`` is the call layer used by LLM and pattern nodes (a ``tierflow.calls.Client``);
    when omitted, a default one (from ``$TIERFLOW_CONFIG`` or the packaged config) is created on
    the first run that needs it.
    """

    def __init__(self, graph: Any, client: Any = None) -> None:
        self.module: IRModule = _to_module(graph)
        self.plan: Plan = compile_plan(self.module)
        self.name = self.module.name
        self._client = client
        self._needs_client = any(k in ("llm", "pattern") for k in self.plan.kinds)
        self._reducers = {name: _reducer(r) for name, r in self.plan.reducers.items()}
        self._output_defaults = {name: None for m in self.plan.output_maps if m
                                 for _k, name in m[1] if name not in self._reducers}
        self._readers = self._input_readers()
        if client is not None:
            self._check_roles(client)

    # --- the call layer -------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The call-layer client (created on first use when none was given)."""
        if self._client is None:
            from tierflow.calls import Client

            client = Client()
            self._check_roles(client)
            self._client = client
        return self._client

    def _check_roles(self, client: Any) -> None:
        """Every role, routed role and provider the graph names must exist on ``client``."""
        registry = getattr(client, "registry", None)
        if registry is None or not self._needs_client:
            return
        config = getattr(client, "config", None)
        routed = getattr(config, "routed_roles", None) or {}
        providers = None
        if config is not None and hasattr(config, "providers"):
            from tierflow.config import WELL_KNOWN_PROVIDERS

            providers = {*config.providers, *WELL_KNOWN_PROVIDERS}
        from tierflow.patterns import pattern_of

        problems = role_problems(self.module, Names(registry, routed, providers), pattern_of)
        if problems:
            raise GraphBuildError(problems, source=f"graph {self.name!r}")

    def _input_readers(self) -> dict[str, list[str]]:
        from tierflow.graph.structure import condition_refs, input_refs
        from tierflow.ir import PARENT_ID

        readers: dict[str, list[str]] = {}
        for node in self.module.nodes:
            refs = [r for v in node.inputs.values() for r in input_refs(v)]
            for case in node.config.get("cases", []) if node.kind == "branch" else []:
                refs += list(condition_refs(case.get("when")))
            for r in refs:
                if r.node == PARENT_ID:
                    readers.setdefault(r.key, []).append(node.id)
        return readers

    # --- running ----------------------------------------------------------------------------
    def run_sync(self, inputs: Mapping[str, Any] | None = None, **kwargs: Any) -> RunResult:
        """Run from synchronous code (not from inside a running event loop: use ``await run``)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(inputs, **kwargs))
        raise RuntimeError("run_sync() was called inside a running event loop; use `await engine.run(...)`")

    async def run(self, inputs: Mapping[str, Any] | None = None, *, tracer: Any = None, **kwargs: Any) -> RunResult:
        """Run the graph once with ``inputs``; keyword arguments are inputs too, but only those the
        graph reads (a misspelt or unsupported keyword is a :class:`RunKeywordError`).

        ``tracer``: a :class:`tierflow.tracing.Tracer` (or a list) receiving the run's events
        (docs/tracing.md); a run nested in a traced span is traced by its tracers too."""
        run_inputs: dict[str, Any] = dict(inputs) if inputs else {}
        if kwargs:
            self._check_keywords(kwargs)
            run_inputs.update(kwargs)
        plan = self.plan
        if not plan.required_inputs.issubset(run_inputs):
            missing = sorted(plan.required_inputs.difference(run_inputs))
            raise RunInputError(self.name, {m: self._readers.get(m, []) for m in missing})
        if self._needs_client and self._client is None:
            _ = self.client  # create the default client (and check roles) before anything runs
        if tracer is not None or _trace_frame.frame.get() is not None:
            from tierflow.tracing._scopes import traced_run

            return await traced_run(self, tracer, run_inputs, self._schedule)  # type: ignore[no-any-return]
        return await self._schedule(run_inputs, plan.executors)

    async def _schedule(self, run_inputs: dict[str, Any], executors: list[Any]) -> RunResult:
        """The scheduler: one run of the plan with these node ``executors`` (traced ones, or the plan's)."""
        plan = self.plan
        t_run = perf_counter()
        n = len(plan.ids)
        values: list[Any] = [None] * n
        status = ["not_run"] * n
        durations = [0.0] * n
        errors: dict[int, str] | None = None
        pending = plan.indegree.copy()
        blocked = [False] * n
        soft_live = [False] * n
        outputs = dict(self._output_defaults) if self._output_defaults else {}
        succ, modes, resolvers = plan.succ, plan.modes, plan.resolvers
        has_soft, case_targets, output_maps = plan.has_soft, plan.case_targets, plan.output_maps
        reducers = self._reducers
        ready: deque[int] = deque()
        starting: list[int] = []
        inflight: dict[asyncio.Future[Any], int] = {}
        started: dict[int, float] = {}

        def release(i: int, chosen: int, live: bool) -> None:
            # Resolve every edge out of node i; queue the targets whose last edge this was.
            targets = case_targets[i]
            for t, soft in succ[i]:
                c = pending[t] - 1
                pending[t] = c
                if live and (chosen == -1 or t == chosen or t not in targets):
                    if soft:
                        soft_live[t] = True
                elif not soft:
                    blocked[t] = True
                if c == 0:
                    if blocked[t] or (has_soft[t] and not soft_live[t]):
                        ready.append(~t)
                    else:
                        ready.append(t)

        def write(i: int, out: dict[str, Any]) -> None:
            star, pairs = output_maps[i]  # type: ignore[misc]
            items = list(out.items()) if star else []
            for key, name in pairs:
                if key not in out:
                    raise KeyError(f"node {plan.ids[i]!r} maps output {key!r} to run output "
                                   f"{name!r}, but returned only {sorted(out)}")
                items.append((name, out[key]))
            if not reducers:
                outputs.update(items)
                return
            for name, value in items:
                red = reducers.get(name)
                outputs[name] = value if red is None else red(outputs.get(name, _UNSET), value)

        def fail(i: int, exc: BaseException) -> dict[str, Any]:
            # The node's on_error answers, or the run fails naming the node.
            nonlocal errors
            if errors is None:
                errors = {}
            errors[i] = f"{type(exc).__name__}: {exc}"
            handler = plan.fallbacks[i]
            if handler is None or not isinstance(exc, Exception):
                status[i] = "failed"
                raise NodeExecutionError(plan.ids[i], exc) from exc
            try:
                out = _as_outputs(handler(exc))
            except Exception as handler_exc:
                status[i] = "failed"
                raise NodeExecutionError(plan.ids[i], handler_exc) from handler_exc
            status[i] = "fallback"
            return out

        def complete(i: int, out: Any, t0: float, ok: bool = True) -> None:
            if type(out) is not dict:
                out = _as_outputs(out)
            values[i] = out
            durations[i] = perf_counter() - t0
            if ok:
                status[i] = "ok"
            if output_maps[i] is not None:
                try:
                    write(i, out)
                except KeyError as exc:
                    status[i] = "failed"
                    raise NodeExecutionError(plan.ids[i], exc) from exc
            release(i, -1, True)

        values[plan.start] = run_inputs
        status[plan.start] = "ok"
        release(plan.start, -1, True)
        try:
            while True:
                while ready:
                    i = ready.popleft()
                    if i < 0:
                        i = ~i
                        status[i] = "skipped"
                        release(i, -1, False)
                        continue
                    mode = modes[i]
                    if mode == SYNC:
                        t0 = perf_counter()
                        ok = True
                        try:
                            out = executors[i](resolvers[i](values))  # type: ignore[misc]
                        except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
                            out, ok = fail(i, exc), False
                        if ok and inspect.isawaitable(out):
                            started[i] = t0
                            inflight[asyncio.ensure_future(out)] = i
                            continue
                        complete(i, out, t0, ok)
                    elif mode == ASYNC:
                        starting.append(i)
                    elif mode == BRANCH:
                        t0 = perf_counter()
                        try:
                            chosen = self._choose(i, values)
                        except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
                            status[i] = "failed"
                            raise NodeExecutionError(plan.ids[i], exc) from exc
                        values[i] = {"target": plan.ids[chosen] if chosen >= 0 else None}
                        durations[i] = perf_counter() - t0
                        status[i] = "ok"
                        release(i, chosen if chosen >= 0 else -2, True)
                    else:
                        status[i] = "ok"
                        if mode != EXIT:
                            release(i, -1, True)
                if not starting and not inflight:
                    break
                if len(starting) == 1 and not inflight:
                    # A lone waiting node: await it directly, no Task needed.
                    i = starting.pop()
                    t0 = perf_counter()
                    try:
                        out = await executors[i](resolvers[i](values), self)  # type: ignore[misc]
                        ok = True
                    except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
                        out, ok = fail(i, exc), False
                    complete(i, out, t0, ok)
                    continue
                for i in starting:
                    started[i] = perf_counter()
                    try:
                        coro = executors[i](resolvers[i](values), self)  # type: ignore[misc]
                    except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
                        complete(i, fail(i, exc), started[i], False)
                        continue
                    inflight[asyncio.ensure_future(coro)] = i
                starting.clear()
                if not inflight:
                    continue
                done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    i = inflight.pop(task)
                    exc = task.exception()
                    if exc is None:
                        complete(i, task.result(), started[i])
                    else:
                        complete(i, fail(i, exc), started[i], False)
        except BaseException:
            for task, i in inflight.items():
                task.cancel()
                status[i] = "cancelled"
            if inflight:
                await asyncio.gather(*inflight, return_exceptions=True)
            raise
        return RunResult(outputs, plan, values, status, durations, errors, perf_counter() - t_run)

    def _check_keywords(self, kwargs: Mapping[str, Any]) -> None:
        unknown = [k for k in kwargs if k not in self._readers]
        if not unknown:
            return
        notes = [_KEYWORD_NOTES[k] for k in unknown if k in _KEYWORD_NOTES]
        raise RunKeywordError(self.name, unknown, sorted(self._readers), notes)

    def _choose(self, i: int, values: list[Any]) -> int:
        """Index of the branch target chosen by node i (-1: no case matched and no otherwise)."""
        for predicate, target in self.plan.branch_cases[i]:  # type: ignore[union-attr]
            if predicate(values):
                return target
        return self.plan.branch_default[i]

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, {len(self.plan.ids) - 2} nodes)"


Hush = Engine
"""Alias for code written against the seed's ``Hush(graph)``."""

__all__ = ["Engine", "Hush"]
