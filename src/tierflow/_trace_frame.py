"""The context variable saying which traced span (and which tracers) the running code is in.

Kept in a module with no imports so the engine and the patterns can check it cheaply (one
``ContextVar.get``) without importing the tracing package when nothing traces (docs/tracing.md).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

frame: ContextVar[Any] = ContextVar("tierflow_trace_frame", default=None)
"""A :class:`tierflow.tracing.tracer.Frame`, or None when nothing traces."""
