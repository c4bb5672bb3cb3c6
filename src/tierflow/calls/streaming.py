"""Streaming calls: fall back only before the first chunk, never replay one after it.

Until a target delivers its first chunk, a stream behaves like a plain call: retries, fallbacks,
cooldowns and the deadline all apply, and nothing has reached the caller. From the first chunk on
the call is committed to that target: a failure raises
:class:`~tierflow.errors.StreamInterruptedError` (the breaker counts it), the caller keeps what
it has received, and no chunk is ever sent twice. Stopping the iteration early (``break``,
cancellation, ``aclose()``) closes the upstream stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tierflow.calls._attempts import Tries
from tierflow.errors import APITimeoutError, ProviderError, ResponseFormatError, StreamInterruptedError
from tierflow.types import Attempt, CallResult, ChatRequest, StreamChunk, TokenLogprob, Usage

if TYPE_CHECKING:
    from tierflow.calls.client import Client
    from tierflow.calls.plan import Plan

_perf = time.perf_counter
Prepare = Callable[[], Awaitable[tuple["Plan", ChatRequest, float | None, dict[str, Any] | None]]]


class CallStream:
    """``async for chunk in stream``; afterwards ``stream.result`` is the :class:`CallResult`."""

    def __init__(self, client: Client, prepare: Prepare, started: float) -> None:
        self._client = client
        self._prepare = prepare
        self._started = started
        self._gen: AsyncIterator[StreamChunk] | None = None
        self.result: CallResult | None = None

    def __aiter__(self) -> CallStream:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and close the upstream request (safe to call twice)."""
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> CallStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def collect(self) -> CallResult:
        """Consume the whole stream and return its :class:`CallResult`."""
        async for _ in self:
            pass
        assert self.result is not None
        return self.result

    async def _run(self) -> AsyncIterator[StreamChunk]:
        plan, request, deadline, decision = await self._prepare()
        loop = asyncio.get_running_loop()
        tries = Tries(self._client, plan, request, self._started, deadline)
        while True:
            target = tries.next()
            timeouts = tries.timeouts
            try:
                upstream = tries.provider.stream(request, timeouts=timeouts)
            except BaseException:  # a provider's own bug: its probe must not stay claimed
                tries.cancelled()
                raise
            scope = asyncio.timeout_at(loop.time() + (tries.ends - tries.t0))
            try:
                async with scope:
                    first = await upstream.__anext__()
            except StopAsyncIteration:
                error: ProviderError = ResponseFormatError("the stream ended before its first chunk",
                                                           target=target.key)
            except ProviderError as exc:
                error = exc
            except TimeoutError as exc:
                await _close(upstream)
                if not scope.expired():
                    tries.cancelled()
                    raise
                if deadline is not None and _perf() >= deadline:
                    tries.deadline_ran_out(exc, "DeadlineExceededError")
                error = APITimeoutError(f"no first chunk within {timeouts.total:g}s", target=target.key)
            except BaseException:
                tries.cancelled()
                await _close(upstream)
                raise
            else:
                relay = self._relay(upstream, first, plan, target.key, target.provider, target.cost,
                                    tries.ends, deadline, tries.attempts, tries.wait, tries.t0, decision)
                try:
                    async for chunk in relay:
                        yield chunk
                finally:
                    await relay.aclose()  # type: ignore[attr-defined]
                return
            await _close(upstream)
            await tries.failed(error)

    async def _relay(self, upstream: AsyncIterator[StreamChunk], first: StreamChunk, plan: Plan,
                     key: str, provider: str, cost_fn: Any, ends: float, deadline: float | None,
                     attempts: list[Attempt], wait: float, t0: float,
                     decision: dict[str, Any] | None) -> AsyncIterator[StreamChunk]:
        """Pass chunks through from the committed target; record the result at the end."""
        client = self._client
        loop = asyncio.get_running_loop()
        ttft = _perf() - self._started
        texts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        logprobs: list[TokenLogprob] | None = None
        delivered = 0
        finished = False
        chunk: StreamChunk | None = first
        try:
            while chunk is not None:
                if chunk.text:
                    texts.append(chunk.text)
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish = chunk.finish_reason
                if chunk.logprobs:
                    logprobs = (logprobs or []) + list(chunk.logprobs)
                delivered += 1
                yield chunk
                scope = asyncio.timeout_at(loop.time() + (ends - _perf()))
                try:
                    async with scope:
                        chunk = await upstream.__anext__()
                except StopAsyncIteration:
                    chunk = None
                except (ProviderError, TimeoutError) as exc:
                    if isinstance(exc, TimeoutError) and not scope.expired():
                        raise
                    finished = True
                    client.breakers.record_failure(key)
                    name = "DeadlineExceededError" if isinstance(exc, TimeoutError) and deadline is not None \
                        and _perf() >= deadline else type(exc).__name__
                    attempts.append(Attempt(key, "error", name, getattr(exc, "status_code", None), wait,
                                            _perf() - t0))
                    if name == "DeadlineExceededError":
                        raise client.deadline_error(plan, self._started, attempts) from exc
                    if isinstance(exc, StreamInterruptedError):
                        exc.attempts = attempts  # type: ignore[attr-defined]
                        raise
                    err = StreamInterruptedError(f"the stream failed after {delivered} chunk(s) ({name}); "
                                                 "the chunks already delivered stand, nothing is replayed",
                                                 target=key, status_code=getattr(exc, "status_code", None))
                    err.attempts = attempts  # type: ignore[attr-defined]
                    raise err from exc
            finished = True
            client.breakers.record_success(key)
            attempts.append(Attempt(key, "ok", None, None, wait, _perf() - t0))
            usage = usage or Usage()
            cost = cost_fn(usage) if cost_fn is not None else client._unknown(key)
            self.result = CallResult("".join(texts), key, provider, plan.role, usage, cost,
                                     _perf() - self._started, ttft, attempts, finish, logprobs, decision)
        finally:
            if not finished:
                client.breakers.release_probe(key)
            await _close(upstream)


async def _close(stream: AsyncIterator[StreamChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
            pass


__all__ = ["CallStream"]
