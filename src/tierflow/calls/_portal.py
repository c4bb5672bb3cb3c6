"""The sync twin's event loop: one private loop on a daemon thread per client.

:meth:`tierflow.calls.client.Client.call` runs each coroutine there, so sync calls reuse the
connections (and circuit breakers) of earlier sync calls instead of opening a loop per call.
:func:`stop_portal` closes what was opened there and stops the loop: the client runs it from
``close()``, and a finalizer runs it when a client that was never closed is garbage-collected or
the interpreter exits (so no "Unclosed client session" warning is printed).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tierflow.providers.base import Provider

_T = TypeVar("_T")


class Portal:
    """A private event loop on a daemon thread that runs coroutines for sync callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tierflow-calls", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """``coro``'s result; interrupting the caller (Ctrl-C) cancels it, and so the upstream request."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def stop(self, close: Callable[[asyncio.AbstractEventLoop], Awaitable[None]]) -> None:
        """Run ``close(loop)`` on the loop (closing what was opened there), then stop and close it."""
        loop = self.loop
        if threading.current_thread() is self._thread:  # collected on its own thread: cannot wait here
            loop.create_task(_then_stop(close(loop), loop))
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(_then_stop(close(loop), loop), loop)
            self._thread.join(timeout=10)
        if not loop.is_running() and not loop.is_closed():
            loop.close()


async def close_all(providers: Iterable[Provider]) -> None:
    """Close ``providers`` one after the other (a provider's ``aclose`` is safe to call twice)."""
    for provider in providers:
        await provider.aclose()


def stop_portal(portal: Portal, by_loop: dict[asyncio.AbstractEventLoop, dict[str, Provider]],
                given: dict[str, Provider]) -> None:
    """Close what was opened on the sync twin's loop (and the given providers), then stop that loop.

    The client's finalizer: it holds the client's dictionaries, never the client itself.
    """
    async def close(loop: asyncio.AbstractEventLoop) -> None:
        await close_all([*by_loop.pop(loop, {}).values(), *given.values()])

    portal.stop(close)


async def _then_stop(closing: Awaitable[None], loop: asyncio.AbstractEventLoop) -> None:
    try:
        await closing
    finally:
        loop.stop()
