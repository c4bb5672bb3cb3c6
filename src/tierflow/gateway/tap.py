"""Which target a stream committed to, known at its first chunk (for headers sent before the end).

``Client.astream`` reports the model that answered only in ``stream.result``, at the end of the
stream; the gateway must name it in the response headers and in every chunk, which leave before
that. Until the call layer publishes an event for it, the gateway wraps each provider: the
wrapper notes ``provider/model`` in the request's :class:`StreamTap` (a context variable set by
the handler) when a stream yields its first chunk. The call layer commits to the target of the
first chunk, so the last target noted is the one that serves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any

from tierflow.config import ProjectConfig
from tierflow.providers.base import Provider, Timeouts, create_provider
from tierflow.types import ChatRequest, ChatResponse, StreamChunk


class StreamTap:
    """What one request's stream committed to: ``model`` is ``"provider/model"`` once known."""

    __slots__ = ("model",)

    def __init__(self) -> None:
        self.model: str | None = None


CURRENT_TAP: ContextVar[StreamTap | None] = ContextVar("tierflow_gateway_tap", default=None)


class TappedProvider(Provider):
    """A provider that notes the target of every stream's first chunk in the current tap."""

    kind = "tapped"

    def __init__(self, inner: Provider) -> None:
        super().__init__(inner.name, inner.settings)
        self.inner = inner

    @property  # type: ignore[override]
    def enforces_timeouts(self) -> bool:  # the call layer arms its own timer unless the inner one does
        return self.inner.enforces_timeouts

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        return await self.inner.complete(request, timeouts=timeouts)

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        upstream = self.inner.stream(request, timeouts=timeouts)
        tap = CURRENT_TAP.get()
        return upstream if tap is None else _noting(upstream, tap, f"{self.name}/{request.model}")

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _noting(upstream: AsyncIterator[StreamChunk], tap: StreamTap, key: str) -> AsyncIterator[StreamChunk]:
    try:
        first = await upstream.__anext__()
    except StopAsyncIteration:
        return
    except BaseException:
        await _close(upstream)
        raise
    tap.model = key
    try:
        yield first
        async for chunk in upstream:
            yield chunk
    finally:
        await _close(upstream)


async def _close(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def tapped_providers(config: ProjectConfig, names: list[str]) -> dict[str, Provider]:
    """A tapped provider for each name (raises the config's error for one that cannot be created)."""
    return {name: TappedProvider(create_provider(name, config.provider_settings(name))) for name in names}


__all__ = ["StreamTap", "CURRENT_TAP", "TappedProvider", "tapped_providers"]
