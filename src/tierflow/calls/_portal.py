"""The sync twin's event loop: one private loop on a daemon thread per client.

:meth:`tierflow.calls.client.Client.call` runs each coroutine there, so sync calls reuse the
connections (and circuit breakers) of earlier sync calls instead of opening a loop per call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

_T = TypeVar("_T")


class Portal:
    """A private event loop on a daemon thread that runs coroutines for sync callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tierflow-calls", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[_T]) -> _T:
        """``coro``'s result; interrupting the caller (Ctrl-C) cancels it, and so the upstream request."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self, close: Callable[[asyncio.AbstractEventLoop], Awaitable[None]]) -> None:
        """Run ``close(loop)`` on the loop (closing what was opened there), then stop and close it."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(close(self.loop), self.loop).result(timeout=10)  # type: ignore[arg-type]
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()
