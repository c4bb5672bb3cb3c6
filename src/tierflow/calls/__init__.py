"""The call layer: roles -> targets -> providers, with retries, fallbacks, cooldowns and cost.

``Client`` is the main entry point; :func:`acall` / :func:`call` use a default client built from
``load_config(None)`` (``$TIERFLOW_CONFIG`` or the packaged local ladder). Observers registered on
a client receive the typed events of :mod:`tierflow.calls.events`.
"""

from __future__ import annotations

import threading
from typing import Any

from tierflow.calls.client import Client
from tierflow.calls.cooldown import CircuitBreakers
from tierflow.calls.events import (
    AttemptFinished,
    AttemptStarted,
    CallEvent,
    CallFinished,
    FirstToken,
    Observer,
    RouteDecided,
)
from tierflow.calls.plan import Plan, PlannedTarget, Planner
from tierflow.calls.retry import RetryPolicy, counts_as_failure, falls_back
from tierflow.calls.streaming import CallStream
from tierflow.types import CallResult, Message

_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The process-wide client of :func:`acall` / :func:`call` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


async def acall(target: str, messages: list[Message] | str, **kwargs: Any) -> CallResult:
    """``await acall("fast", "Hi")`` with the default client; see :meth:`Client.acall`."""
    return await default_client().acall(target, messages, **kwargs)


def call(target: str, messages: list[Message] | str, **kwargs: Any) -> CallResult:
    """Sync twin of :func:`acall`."""
    return default_client().call(target, messages, **kwargs)


__all__ = ["Client", "CallStream", "CircuitBreakers", "RetryPolicy", "Plan", "PlannedTarget", "Planner",
           "falls_back", "counts_as_failure", "default_client", "acall", "call", "CallEvent", "Observer",
           "RouteDecided", "AttemptStarted", "AttemptFinished", "FirstToken", "CallFinished"]
