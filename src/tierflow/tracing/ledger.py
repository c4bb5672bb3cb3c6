"""A tracer that records every call in the gateway's SQLite ledger, for library and CLI use.

``LedgerTracer(path)`` appends one ``requests`` row and its ``attempts`` rows per call, in the
gateway's schema (docs/gateway.md, "The ledger"), so ``tierflow cost report`` and ``tierflow route
fit --from-ledger`` read library traffic and gateway traffic alike. Rows are committed in groups by
the ledger's writer thread (a call never waits on the disk); ``close()`` writes what is queued, and
so does the interpreter's exit. Messages and answers are stored only with ``store_content=True``.
Enable it for every client of a config with ``tracing: {ledger: PATH}`` (docs/tracing.md).
"""

from __future__ import annotations

import atexit
import json
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tierflow.calls.events import CallFinished
from tierflow.pricing import recorded_cost
from tierflow.tracing.events import TraceEvent
from tierflow.tracing.tracer import Tracer

_shared: dict[Path, LedgerTracer] = {}
_shared_lock = threading.Lock()


def default_ledger() -> Path:
    """``$TIERFLOW_HOME/gateway.sqlite``: the gateway's own default database."""
    from tierflow.local_models import tierflow_home

    return tierflow_home() / "gateway.sqlite"


def _status(event: CallFinished) -> int:
    if event.outcome == "ok":
        return 200
    if event.outcome == "cancelled":
        return 499
    return event.status_code or 500


class LedgerTracer(Tracer):
    """Appends each call to the ledger at ``path`` (default ``$TIERFLOW_HOME/gateway.sqlite``).

    ``key_id`` labels the rows (``tierflow cost report --by key``); the tracer's ``user_id`` goes in
    the ``user`` column.
    """

    def __init__(self, path: str | Path | None = None, *, key_id: str | None = None, store_content: bool = False,
                 commit_interval_s: float = 0.2, tags: Iterable[str] = (), session_id: str | None = None,
                 user_id: str | None = None, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(tags=tags, session_id=session_id, user_id=user_id, metadata=metadata)
        from tierflow.gateway.ledger import Ledger

        self.path = Path(path) if path is not None else default_ledger()
        self.key_id = key_id
        self.store_content = store_content
        self._ledger = Ledger(self.path, commit_interval_s=commit_interval_s, store_content=store_content)
        atexit.register(self.close)

    @classmethod
    def shared(cls, path: str | Path | None = None, *, store_content: bool = False) -> LedgerTracer:
        """One tracer (one writer thread) per ledger file in this process: what config-enabled ledgers use."""
        resolved = (Path(path) if path is not None else default_ledger()).resolve()
        with _shared_lock:
            tracer = _shared.get(resolved)
            if tracer is None:
                tracer = _shared[resolved] = cls(resolved, store_content=store_content)
            return tracer

    def handle(self, event: TraceEvent, parent_id: str | None) -> None:
        if isinstance(event, CallFinished):
            self._ledger.append_rows(*self._rows(event))

    def _rows(self, e: CallFinished) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        usage, result = e.usage, e.result
        messages = answer = None
        if self.store_content:
            messages = json.dumps(e.request.messages, ensure_ascii=False) if e.request is not None else None
            answer = result.text if result is not None else None
        decision = json.dumps(e.decision, default=str) if e.decision else None
        request = (e.request_id, time.time() - e.latency_s - e.setup_s, self.key_id, None, self.user_id, e.name,
                   e.role, e.target, e.provider, int(e.stream), _status(e), e.outcome, e.error,
                   usage.input_tokens if usage else None, usage.output_tokens if usage else None,
                   usage.cached_tokens if usage else None, usage.reasoning_tokens if usage else None,
                   recorded_cost(e.cost_usd, usage), e.latency_s * 1000.0,
                   None if e.ttft_s is None else e.ttft_s * 1000.0, len(e.attempts), decision,
                   e.variant, messages, answer, None)
        attempts = [(e.request_id, i, a.target, a.outcome, a.error, a.status_code, a.wait_s, a.duration_s)
                    for i, a in enumerate(e.attempts)]
        return request, attempts

    def close(self) -> None:
        """Write everything queued, then close the file (safe to call twice)."""
        self._ledger.close()
        with _shared_lock:
            for k, v in list(_shared.items()):
                if v is self:
                    del _shared[k]

    shutdown = close


__all__ = ["LedgerTracer", "default_ledger"]
