"""The core's tracing seam: which traced span the running code is in, and the hooks that trace it.

The units that are traced (the client, the engine, the patterns, the gateway) never import
:mod:`tierflow.tracing`: it imports them (their events, the gateway's ledger), so they reach it
through :class:`TraceHooks`, which the tracing package installs here when it is imported. A run or
a pattern is traced only when a tracer was given (its class came from the tracing package, so the
hooks are installed) or the caller is inside a traced span; a config whose ``tracing:`` section asks
for tracers loads the package by its name (:data:`IMPLEMENTATION`) on first need.

Kept free of tierflow imports so the engine and the patterns check :data:`frame` cheaply (one
``ContextVar.get``) without loading the tracing package when nothing traces (docs/tracing.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

frame: ContextVar[Any] = ContextVar("tierflow_trace_frame", default=None)
"""A :class:`tierflow.tracing.tracer.Frame`, or None when nothing traces."""

IMPLEMENTATION = "tierflow.tracing"
"""The package that installs the hooks (imported by name when a config asks for tracers first)."""


@dataclass(frozen=True, slots=True)
class TraceHooks:
    """What the traced units call; :mod:`tierflow.tracing` provides each (docs/tracing.md)."""

    traced_run: Callable[[Any, Any, dict[str, Any], Callable[..., Awaitable[Any]]], Awaitable[Any]]
    """``(engine, tracer, run_inputs, schedule)``: the engine's run inside a run span."""
    traced_pattern: Callable[[Any, Any, list[Any], Any], Awaitable[Any]]
    """``(pattern, tracer, messages, client)``: a pattern's run inside a pattern span."""
    tracers_from_config: Callable[..., list[Any]]
    """``(config, *, ledger=True)``: the tracers a config's ``tracing:`` section asks for."""
    tracers_from_environment: Callable[[Mapping[str, str] | None], list[Any]]
    """``(env)``: the OpenTelemetry tracer ``OTEL_EXPORTER_OTLP_*`` asks for, or none."""


_installed: TraceHooks | None = None


def install(trace_hooks: TraceHooks) -> None:
    """Make ``trace_hooks`` the ones every traced unit calls (the tracing package does, on import)."""
    global _installed
    _installed = trace_hooks


def hooks() -> TraceHooks:
    """The installed hooks, importing :data:`IMPLEMENTATION` first when none are."""
    if _installed is None:
        importlib.import_module(IMPLEMENTATION)
    if _installed is None:
        raise RuntimeError(f"{IMPLEMENTATION} was imported but installed no trace hooks")
    return _installed
