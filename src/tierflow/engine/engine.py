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
from tierflow.engine.plan import ASYNC, BRANCH, EXIT, SYNC, ExecutionPlan, compile_plan
from tierflow.engine.result import RunResult
from tierflow.errors import GraphBuildError, NodeExecutionError, RunInputError, RunKeywordError
from tierflow.graph.roles import Names, role_problems
from tierflow.graph.validation import check
from tierflow.ir import IRModule

_UNSET = object()
_KEYWORD_NOTES: dict[str, str] = {}


def _append(old: Any, new: Any) -> Any:
    return [new] if old is _UNSET else [*old, new]


def _extend(old: Any, new: Any) -> Any:
    return list(new or []) if old is _UNSET else [*old, *(new or [])]


def _sum(old: Any, new: Any) -> Any:
    return new if old is _UNSET else old + new


def _min(old: Any, new: Any) -> Any:
    return new if old is _UNSET else min(old, new)


def _max(old: Any, new: Any) -> Any:
    return new if old is _UNSET else max(old, new)


def _first(old: Any, new: Any) -> Any:
    return new if old is _UNSET else old


def _last(old: Any, new: Any) -> Any:
    return new


_REDUCERS: dict[str, Callable[[Any, Any], Any]] = {
    "append": _append, "extend": _extend, "sum": _sum, "min": _min, "max": _max, "first": _first, "last": _last,
}


def _reducer(spec: Any) -> Callable[[Any, Any], Any]:
    """How a run output with several writers combines them: a named reducer or ``f(old, new)``."""
    if callable(spec):
        return lambda old, new: new if old is _UNSET else spec(old, new)
    return _REDUCERS[spec]


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
    module = to_ir() if callable(to_ir) else None
    if isinstance(module, IRModule):
        return module
    raise TypeError(f"Engine runs a GraphNode or an IRModule, got {type(graph).__name__}")


class Engine:
    """Runs one graph, many times. Build once (validation and planning happen here), run often.

    ``client`` is the call layer used by LLM and pattern nodes (a ``tierflow.calls.Client``);
    when omitted, a default one (from ``$TIERFLOW_CONFIG`` or the packaged config) is created on
    the first run that needs it.
    """

    def __init__(self, graph: Any, client: Any = None) -> None:
        self.module: IRModule = _to_module(graph)
        self.plan: ExecutionPlan = compile_plan(self.module)
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
        problems = role_problems(self.module, Names(registry, routed, providers))
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
        run_inputs = self._run_inputs(inputs, kwargs)
        if self._needs_client and self._client is None:
            _ = self.client  # create the default client (and check roles) before anything runs
        if tracer is not None or _trace_frame.frame.get() is not None:
            return await _trace_frame.hooks().traced_run(self, tracer, run_inputs,  # type: ignore[no-any-return]
                                                         self._schedule)
        return await _Run(self, run_inputs, self.plan.executors).execute()

    async def _schedule(self, run_inputs: dict[str, Any], executors: list[Any]) -> RunResult:
        """One run of the plan with these node ``executors`` (traced ones, or the plan's)."""
        return await _Run(self, run_inputs, executors).execute()

    def _run_inputs(self, inputs: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The run's inputs: ``inputs`` plus the keywords; every input the graph requires is there."""
        run_inputs: dict[str, Any] = dict(inputs) if inputs else {}
        if kwargs:
            self._check_keywords(kwargs)
            run_inputs.update(kwargs)
        required = self.plan.required_inputs
        if not required.issubset(run_inputs):
            missing = sorted(required.difference(run_inputs))
            raise RunInputError(self.name, {m: self._readers.get(m, []) for m in missing})
        return run_inputs

    def _check_keywords(self, kwargs: Mapping[str, Any]) -> None:
        unknown = [k for k in kwargs if k not in self._readers]
        if not unknown:
            return
        notes = [_KEYWORD_NOTES[k] for k in unknown if k in _KEYWORD_NOTES]
        raise RunKeywordError(self.name, unknown, sorted(self._readers), notes)

    def __repr__(self) -> str:
        return f"Engine({self.name!r}, {len(self.plan.ids) - 2} nodes)"


class _Run:
    """One run of an engine's plan: the per-node state arrays and the scheduler's steps.

    The scheduler loop (:meth:`execute`) alternates two phases: run every *ready* node whose
    edges are all resolved (synchronous ones inline, see :meth:`_run_ready`), then start the
    nodes that wait and collect the first of them to finish. A node whose incoming edges leave
    it dead (:attr:`dead`) is skipped instead of run; skips propagate along its edges.
    """

    __slots__ = ("engine", "plan", "values", "status", "durations", "errors", "pending", "dead", "soft_live",
                 "outputs", "ready", "starting", "inflight", "started", "executors",
                 "succ", "case_targets", "has_soft", "output_maps")

    def __init__(self, engine: Engine, inputs: dict[str, Any], executors: list[Any]) -> None:
        plan = engine.plan
        self.executors = executors  # the plan's, or the tracer's wrappers of them
        n = len(plan.ids)
        self.engine = engine
        self.plan = plan
        self.values: list[Any] = [None] * n  # each node's outputs (None: not run or skipped)
        self.status = ["not_run"] * n
        self.durations = [0.0] * n
        self.errors: dict[int, str] | None = None  # node index -> the error it raised
        self.pending = plan.indegree.copy()  # incoming edges not yet resolved
        self.dead = [False] * n  # a hard edge into it is dead, or (once resolved) no soft edge is live
        self.soft_live = [False] * n  # some soft edge into it is live
        self.outputs: dict[str, Any] = dict(engine._output_defaults) if engine._output_defaults else {}
        self.ready: deque[int] = deque()  # nodes whose edges are all resolved, to run or skip
        self.starting: list[int] = []  # waiting nodes ready to start
        self.inflight: dict[asyncio.Future[Any], int] = {}  # running tasks -> node index
        self.started: dict[int, float] = {}  # node index -> perf_counter() when its task started
        # the plan's lists read on every node, bound here once (the scheduler's hot path)
        self.succ, self.case_targets, self.has_soft = plan.succ, plan.case_targets, plan.has_soft
        self.output_maps = plan.output_maps
        self.values[plan.start] = inputs
        self.status[plan.start] = "ok"

    async def execute(self) -> RunResult:
        """Run ready nodes, then start and await waiting ones, until nothing is left to do; on any
        failure cancel the nodes in flight and re-raise."""
        t_run = perf_counter()
        starting, inflight = self.starting, self.inflight
        self._release(self.plan.start, live=True)
        try:
            while True:
                self._run_ready()
                if not starting and not inflight:
                    break
                if len(starting) == 1 and not inflight:
                    await self._await_alone(starting.pop())  # no Task needed for a lone waiting node
                    continue
                self._start_tasks()
                if inflight:
                    await self._collect_first_done()
        except BaseException:
            await self._cancel_inflight()
            raise
        return RunResult(self.outputs, self.plan, self.values, self.status, self.durations, self.errors,
                         perf_counter() - t_run)

    # --- edges --------------------------------------------------------------------------------
    def _release(self, i: int, live: bool, chosen: int | None = None) -> None:
        """Resolve every edge out of node ``i``; queue the targets whose last edge this was.

        An edge is live when ``i`` ran (``live``) and, for a branch, leads to the ``chosen``
        target or to a node no case names; a dead hard edge kills its target.
        """
        pending, dead, soft_live, has_soft = self.pending, self.dead, self.soft_live, self.has_soft
        case_targets = self.case_targets[i]
        for t, soft in self.succ[i]:
            left = pending[t] - 1
            pending[t] = left
            if live and (t == chosen or t not in case_targets):
                if soft:
                    soft_live[t] = True
            elif not soft:
                dead[t] = True
            if left == 0:
                if has_soft[t] and not soft_live[t]:
                    dead[t] = True
                self.ready.append(t)

    # --- running nodes --------------------------------------------------------------------------
    def _run_ready(self) -> None:
        """Run or skip every queued node: synchronous ones inline (the common case, so this loop
        calls them itself), waiting ones to ``starting``."""
        ready, dead, modes, values = self.ready, self.dead, self.plan.modes, self.values
        executors, resolvers = self.executors, self.plan.resolvers
        while ready:
            i = ready.popleft()
            mode = modes[i]
            if dead[i]:
                self._skip(i)
            elif mode == SYNC:
                t0 = perf_counter()
                try:
                    out = executors[i](resolvers[i](values))  # type: ignore[misc]
                except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
                    self._complete(i, self._fail(i, exc), t0, ok=False)
                    continue
                if inspect.isawaitable(out):  # a plain function that returned an awaitable
                    self.started[i] = t0
                    self.inflight[asyncio.ensure_future(out)] = i
                else:
                    self._complete(i, out, t0)
            elif mode == ASYNC:
                self.starting.append(i)
            elif mode == BRANCH:
                self._run_branch(i)
            else:
                self._pass_through(i, mode)

    def _skip(self, i: int) -> None:
        self.status[i] = "skipped"
        self._release(i, live=False)

    def _pass_through(self, i: int, mode: int) -> None:
        """An entry or exit node: nothing to compute."""
        self.status[i] = "ok"
        if mode != EXIT:
            self._release(i, live=True)

    def _run_branch(self, i: int) -> None:
        """A branch: pick its target and resolve its edges (only the chosen case's edge is live)."""
        t0 = perf_counter()
        try:
            chosen = self._choose(i)
        except Exception as exc:  # noqa: BLE001 - a branch condition error fails the run
            self.status[i] = "failed"
            raise NodeExecutionError(self.plan.ids[i], exc) from exc
        self.values[i] = {"target": None if chosen is None else self.plan.ids[chosen]}
        self.durations[i] = perf_counter() - t0
        self.status[i] = "ok"
        self._release(i, live=True, chosen=chosen)

    def _choose(self, i: int) -> int | None:
        """Index of the target branch ``i`` takes: the first true case, else ``otherwise`` (or none)."""
        for predicate, target in self.plan.branch_cases[i]:  # type: ignore[union-attr]
            if predicate(self.values):
                return target
        return self.plan.branch_default[i]

    async def _await_alone(self, i: int) -> None:
        """The only waiting node and nothing in flight: await it directly."""
        t0 = perf_counter()
        try:
            out = await self.executors[i](self.plan.resolvers[i](self.values), self.engine)  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
            self._complete(i, self._fail(i, exc), t0, ok=False)
            return
        self._complete(i, out, t0)

    def _start_tasks(self) -> None:
        """Start every waiting node as an asyncio Task."""
        executors, resolvers = self.executors, self.plan.resolvers
        for i in self.starting:
            self.started[i] = t0 = perf_counter()
            try:
                coro = executors[i](resolvers[i](self.values), self.engine)  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - a node error fails the run or its on_error answers
                self._complete(i, self._fail(i, exc), t0, ok=False)
                continue
            self.inflight[asyncio.ensure_future(coro)] = i
        self.starting.clear()

    async def _collect_first_done(self) -> None:
        """Wait for the first tasks in flight to finish and complete their nodes."""
        done, _ = await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            i = self.inflight.pop(task)
            exc = task.exception()
            if exc is None:
                self._complete(i, task.result(), self.started[i])
            else:
                self._complete(i, self._fail(i, exc), self.started[i], ok=False)

    async def _cancel_inflight(self) -> None:
        for task, i in self.inflight.items():
            task.cancel()
            self.status[i] = "cancelled"
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)

    # --- results --------------------------------------------------------------------------------
    def _complete(self, i: int, out: Any, t0: float, ok: bool = True) -> None:
        """Record node ``i``'s outputs (``ok=False``: its ``on_error`` answered), write its run
        outputs and resolve its edges."""
        if type(out) is not dict:
            out = _as_outputs(out)
        self.values[i] = out
        self.durations[i] = perf_counter() - t0
        if ok:
            self.status[i] = "ok"
        if self.output_maps[i] is not None:
            try:
                self._write(i, out)
            except KeyError as exc:
                self.status[i] = "failed"
                raise NodeExecutionError(self.plan.ids[i], exc) from exc
        self._release(i, True)

    def _fail(self, i: int, exc: BaseException) -> dict[str, Any]:
        """The outputs node ``i``'s ``on_error`` answers for ``exc``; without one the run fails."""
        if self.errors is None:
            self.errors = {}
        self.errors[i] = f"{type(exc).__name__}: {exc}"
        handler = self.plan.fallbacks[i]
        if handler is None or not isinstance(exc, Exception):
            self.status[i] = "failed"
            raise NodeExecutionError(self.plan.ids[i], exc) from exc
        try:
            out = _as_outputs(handler(exc))
        except Exception as handler_exc:
            self.status[i] = "failed"
            raise NodeExecutionError(self.plan.ids[i], handler_exc) from handler_exc
        self.status[i] = "fallback"
        return out

    def _write(self, i: int, out: dict[str, Any]) -> None:
        """Copy node ``i``'s mapped outputs into the run outputs, through their reducers."""
        star, pairs = self.plan.output_maps[i]  # type: ignore[misc]
        items = list(out.items()) if star else []
        for key, name in pairs:
            if key not in out:
                raise KeyError(f"node {self.plan.ids[i]!r} maps output {key!r} to run output "
                               f"{name!r}, but returned only {sorted(out)}")
            items.append((name, out[key]))
        reducers = self.engine._reducers
        if not reducers:
            self.outputs.update(items)
            return
        for name, value in items:
            red = reducers.get(name)
            self.outputs[name] = value if red is None else red(self.outputs.get(name, _UNSET), value)


Hush = Engine
"""Alias for code written against the ``Hush(graph)`` of the original design (see README)."""

__all__ = ["Engine", "Hush"]
