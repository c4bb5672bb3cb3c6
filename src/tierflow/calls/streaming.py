"""Streaming calls: fall back only before the first chunk, never replay one after it.

Until a target delivers its first chunk, a stream behaves like a plain call: retries, fallbacks,
cooldowns and the deadline all apply, and nothing has reached the caller. From the first chunk on
the call is committed to that target: a failure raises
:class:`~tierflow.errors.StreamInterruptedError` (the breaker counts it), the caller keeps what
it has received, and no chunk is ever sent twice.

Stopping early closes the upstream stream and gives the target's breaker its ticket (or half-open
probe) back: ``aclose()``, leaving ``async with``, cancelling the task, and also
``async for chunk in client.astream(...): break`` with the stream kept nowhere else, because a
:class:`CallStream` is in no reference cycle: dropping it closes its generator on the event loop's
next turn, without waiting for the garbage collector.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from tierflow.calls._attempts import CallSeams, Tries
from tierflow.calls.events import FirstToken, emit
from tierflow.errors import APITimeoutError, ProviderError, ResponseFormatError, StreamInterruptedError
from tierflow.types import CallResult, ChatRequest, StreamChunk, TokenLogprob, Usage

if TYPE_CHECKING:
    from tierflow.calls.plan import Plan

_perf = time.perf_counter


@dataclass(slots=True)
class Prepared:
    """A stream's call, resolved when iteration starts: what to send, to which plan, until when."""

    plan: Plan
    request: ChatRequest
    deadline: float | None
    decision: dict[str, Any] | None
    setup_s: float


Prepare = Callable[[], Awaitable[Prepared]]


class _Outcome:
    """Where the stream's generator leaves what it learns (the generator never refers to its CallStream)."""

    __slots__ = ("result", "decision", "variant", "target", "provider")

    def __init__(self) -> None:
        self.result: CallResult | None = None
        self.decision: dict[str, Any] | None = None
        self.variant: str | None = None
        self.target: str | None = None
        self.provider: str | None = None


class CallStream:
    """``async for chunk in stream``; afterwards ``stream.result`` is the :class:`CallResult`."""

    def __init__(self, seams: CallSeams, prepare: Prepare, started: float, request_id: str) -> None:
        self.request_id = request_id
        self._seams = seams
        self._prepare = prepare
        self._started = started
        self._out = _Outcome()
        self._gen: AsyncGenerator[StreamChunk, None] | None = None

    @property
    def result(self) -> CallResult | None:
        """The call's record once the stream has been consumed to its end (else None)."""
        return self._out.result

    @property
    def target(self) -> str | None:
        """The ``provider/model`` the stream committed to, set when its first chunk arrives (the
        moment of the ``FirstToken`` event): what serves it, known before the stream ends."""
        return self._out.target

    @property
    def provider(self) -> str | None:
        """The provider (its name in the config) of :attr:`target`, set with it."""
        return self._out.provider

    @property
    def decision(self) -> dict[str, Any] | None:
        """A routed role's decision (the ``RouteDecided`` event's), set before the first chunk."""
        return self._out.decision

    @property
    def variant(self) -> str | None:
        """A traffic split's variant role, set before the first chunk (None for other roles)."""
        return self._out.variant

    def __aiter__(self) -> CallStream:
        return self

    async def __anext__(self) -> StreamChunk:
        gen = self._gen
        if gen is None:
            gen = self._gen = _run(self._seams, self._prepare, self._started, self.request_id, self._out)
        return await gen.__anext__()

    async def aclose(self) -> None:
        """Stop the stream and close the upstream request (safe to call twice)."""
        gen = self._gen
        if gen is not None:
            await gen.aclose()

    async def __aenter__(self) -> CallStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def collect(self) -> CallResult:
        """Consume the whole stream and return its :class:`CallResult`."""
        async for _ in self:
            pass
        result = self._out.result
        assert result is not None  # a stream that ends without raising has its result
        return result


async def _run(seams: CallSeams, prepare: Prepare, started: float, request_id: str,
               out: _Outcome) -> AsyncGenerator[StreamChunk, None]:
    """The stream: attempts until a first chunk, then the committed target's chunks."""
    prepared = await prepare()
    out.decision = prepared.decision
    out.variant = prepared.plan.variant
    tries = Tries(seams, prepared.plan, prepared.request, request_id, started, prepared.deadline, prepared.setup_s)
    relay: _Relay | None = None
    ended: BaseException | None = None
    try:
        upstream, first = await _first_chunk(tries)
        relay = _Relay(tries, upstream, _perf() - started - tries.setup_s)
        out.target, out.provider = tries.key, tries.target.provider
        if seams.observers:
            target = tries.target
            emit(seams.observers, FirstToken(request_id, prepared.plan.role, tries.key, target.provider,
                                             target.model, len(tries.attempts), relay.ttft))
        chunk: StreamChunk | None = first
        while chunk is not None:
            relay.absorb(chunk)
            yield chunk
            chunk = await relay.next()
        out.result = relay.finish(prepared.decision)
    except BaseException as exc:  # recorded for the call's event, then re-raised
        ended = exc
        raise
    finally:
        if relay is not None:
            await relay.close()
        if seams.observers:
            tries.call_finished(out.result, ended, None if relay is None else relay.ttft, prepared.decision,
                                stream=True)


async def _first_chunk(tries: Tries) -> tuple[AsyncIterator[StreamChunk], StreamChunk]:
    """Attempt target after target until one delivers a first chunk; the stream and that chunk."""
    loop = asyncio.get_running_loop()
    while True:
        target = tries.next()
        try:
            upstream = tries.provider.stream(tries.request, timeouts=tries.timeouts)
        except BaseException:  # a provider's own bug: its probe must not stay claimed
            tries.cancelled()
            raise
        scope = asyncio.timeout_at(loop.time() + (tries.ends - tries.t0))
        stopped: BaseException | None = None
        try:
            async with scope:
                first = await upstream.__anext__()
        except StopAsyncIteration:
            error: ProviderError = ResponseFormatError("the stream ended before its first chunk", target=target.key)
        except ProviderError as exc:
            error = exc
        except BaseException as exc:  # our timer, a cancellation, or a provider's own bug
            stopped = exc
        else:
            return upstream, first
        await _close(upstream)
        if stopped is not None:
            if not (isinstance(stopped, TimeoutError) and scope.expired()):
                tries.cancelled()  # no verdict on the target: its probe must not stay claimed
                raise stopped
            if tries.deadline is not None and _perf() >= tries.deadline:
                tries.deadline_ran_out(stopped)
            error = APITimeoutError(f"no first chunk within {tries.timeouts.total:g}s", target=target.key)
        await tries.failed(error)


class _Relay:
    """The committed target's stream: reads the next chunk in time, keeps what the result needs."""

    __slots__ = ("tries", "upstream", "ttft", "texts", "usage", "finish_reason", "logprobs", "delivered",
                 "finished", "tool_calls")

    def __init__(self, tries: Tries, upstream: AsyncIterator[StreamChunk], ttft: float) -> None:
        self.tries = tries
        self.upstream = upstream
        self.ttft = ttft
        self.texts: list[str] = []
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.logprobs: list[TokenLogprob] | None = None
        self.delivered = 0
        self.finished = False  # the attempt has its verdict
        self.tool_calls: dict[int, dict[str, Any]] | None = None  # by index, arguments joined

    def absorb(self, chunk: StreamChunk) -> None:
        if chunk.text:
            self.texts.append(chunk.text)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
        if chunk.logprobs:
            self.logprobs = (self.logprobs or []) + list(chunk.logprobs)
        if chunk.tool_calls:
            self._absorb_tool_calls(chunk.tool_calls)
        self.delivered += 1

    def _absorb_tool_calls(self, deltas: list[dict[str, Any]]) -> None:
        calls = self.tool_calls = self.tool_calls if self.tool_calls is not None else {}
        for delta in deltas:
            call = calls.setdefault(int(delta.get("index", len(calls))),
                                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            if delta.get("id"):
                call["id"] = delta["id"]
            function = delta.get("function") or {}
            if function.get("name"):
                call["function"]["name"] = function["name"]
            call["function"]["arguments"] += function.get("arguments") or ""

    async def next(self) -> StreamChunk | None:
        """The next chunk; None at the end. A failure ends the call (nothing is replayed)."""
        loop = asyncio.get_running_loop()
        scope = asyncio.timeout_at(loop.time() + (self.tries.ends - _perf()))
        try:
            async with scope:
                return await self.upstream.__anext__()
        except StopAsyncIteration:
            return None
        except (ProviderError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError) and not scope.expired():
                raise
            self._interrupted(exc)

    def _interrupted(self, exc: ProviderError | TimeoutError) -> NoReturn:
        tries = self.tries
        self.finished = True
        if isinstance(exc, TimeoutError) and tries.deadline is not None and _perf() >= tries.deadline:
            tries.deadline_ran_out(exc)
        status = exc.status_code if isinstance(exc, ProviderError) else None
        name = type(exc).__name__
        tries.interrupted(name, status)
        if isinstance(exc, StreamInterruptedError):
            exc.attempts = tries.attempts
            raise exc
        raise StreamInterruptedError(f"the stream failed after {self.delivered} chunk(s) ({name}); the chunks "
                                     "already delivered stand, nothing is replayed", target=tries.key,
                                     status_code=status, attempts=tries.attempts) from exc

    def finish(self, decision: dict[str, Any] | None) -> CallResult:
        """The stream ended well: close the breaker's verdict and build the result."""
        self.finished = True
        tries = self.tries
        tries.succeeded()
        calls = None if self.tool_calls is None else [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return tries.result("".join(self.texts), self.usage or Usage(), self.finish_reason, self.logprobs,
                            self.ttft, decision, calls)

    async def close(self) -> None:
        """Close the upstream; an attempt left without a verdict (stopped early) gives its ticket back."""
        if not self.finished:
            self.finished = True
            self.tries.cancelled()
        await _close(self.upstream)


async def _close(stream: AsyncIterator[StreamChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # noqa: BLE001 - closing a broken stream must not mask the real error
            pass


__all__ = ["CallStream", "Prepared", "Prepare"]
