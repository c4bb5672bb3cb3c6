"""Traces: a tracer API over the call layer's and the engine's events, and built-in tracers.

``await engine.run(inputs, tracer=ConsoleTracer())`` prints the run's tree with tokens, cost and
latency; ``OTelTracer`` exports OpenTelemetry GenAI spans (the ``tierflow[otel]`` extra);
patterns take ``tracer=`` in ``run``, and a tracer is a client observer too. See docs/tracing.md.
"""

from __future__ import annotations

from typing import Any

from tierflow import _trace_frame
from tierflow.tracing import _scopes, setup
from tierflow.tracing.console import ConsoleTracer
from tierflow.tracing.events import (
    EngineEvent,
    NodeFinished,
    NodeStarted,
    PatternFinished,
    PatternStarted,
    RunFinished,
    RunStarted,
    TraceEvent,
)
from tierflow.tracing.tracer import Tracer, current_frame

# the traced units reach this package only through the core's hooks (tierflow._trace_frame)
_trace_frame.install(_trace_frame.TraceHooks(_scopes.traced_run, _scopes.traced_pattern, setup.tracers_from_config,
                                             setup.tracers_from_environment))

_LAZY = {"OTelTracer": "tierflow.tracing.otel", "LedgerTracer": "tierflow.tracing.ledger"}


def __getattr__(name: str) -> Any:
    """``OTelTracer`` and ``LedgerTracer`` are imported on first use (their dependencies are optional)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tierflow.tracing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["ConsoleTracer", "EngineEvent", "NodeFinished", "NodeStarted", "PatternFinished", "PatternStarted",
           "RunFinished", "RunStarted", "TraceEvent", "Tracer", "current_frame"]
