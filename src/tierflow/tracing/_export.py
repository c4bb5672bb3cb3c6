"""A span processor that never makes the traced code wait: a bounded queue and one export thread.

``on_end`` only appends to a queue of at most ``max_queue`` spans; when it is full the span is
dropped and counted. A daemon thread sends batches through the exporter (OTLP/HTTP here), so an
unreachable or slow endpoint costs the calls nothing; its failures are counted too, and
:meth:`BoundedSpanProcessor.stats` reports all three counts (docs/tracing.md).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_log = logging.getLogger("tierflow.tracing")


class BoundedSpanProcessor(SpanProcessor):
    """Exports finished spans in batches from a background thread; drops (and counts) past ``max_queue``."""

    def __init__(self, exporter: SpanExporter, *, max_queue: int = 2048, batch_size: int = 256,
                 interval_s: float = 1.0) -> None:
        self.exporter = exporter
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.exported = 0
        self.dropped = 0
        self.failed = 0
        self._queue: deque[ReadableSpan] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stopped = False
        self._thread = threading.Thread(target=self._work, name="tierflow-otel-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            if self._stopped or len(self._queue) >= self.max_queue:
                self.dropped += 1
                return
            self._queue.append(span)
            self._idle.clear()
            if len(self._queue) >= self.batch_size:
                self._wake.set()

    def stats(self) -> dict[str, int]:
        """Spans ``exported``, ``dropped`` (queue full, or after shutdown) and ``failed`` (export errors)."""
        with self._lock:
            return {"exported": self.exported, "dropped": self.dropped, "failed": self.failed,
                    "queued": len(self._queue)}

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait (up to the timeout) until every queued span was handed to the exporter."""
        self._wake.set()
        return self._idle.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        self.force_flush(5000)
        with self._lock:
            self._stopped = True
            self.dropped += len(self._queue)
            self._queue.clear()
        self._wake.set()
        self._thread.join(5)
        self.exporter.shutdown()
        stats = self.stats()
        if stats["dropped"] or stats["failed"]:
            _log.warning("tierflow traces: %d spans exported, %d dropped (queue full or shut down), %d failed "
                         "to export", stats["exported"], stats["dropped"], stats["failed"])

    def _take(self) -> list[ReadableSpan]:
        with self._lock:
            n = min(self.batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            if not batch:
                self._idle.set()
            return batch

    def _work(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            while batch := self._take():
                self._send(batch)
            if self._stopped:
                return

    def _send(self, batch: list[ReadableSpan]) -> None:
        try:
            result: Any = self.exporter.export(batch)
        except Exception:  # an exporter bug must not kill the export thread
            _log.debug("span export raised", exc_info=True)
            result = SpanExportResult.FAILURE
        with self._lock:
            if result == SpanExportResult.SUCCESS:
                self.exported += len(batch)
            else:
                self.failed += len(batch)


__all__ = ["BoundedSpanProcessor"]
