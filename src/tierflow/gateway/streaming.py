"""SSE streaming by the gateway's rules (docs/gateway.md, "Streaming"):

- **No 200 before the first real content.** The status line and headers leave with the first
  chunk the call layer delivers; until then every failure (a 429, a 500, a stream cut before its
  first chunk) can still fall back, and if the whole chain fails the client gets an ordinary
  OpenAI error with its status, not a 200.
- **A failure after content** ends the stream with an error event (``data: {"error": {...}}``,
  which the OpenAI SDK raises as ``APIError``) and then the connection is cut: no ``[DONE]``, no
  clean end of the HTTP body, and no text is ever sent twice.
- **A client disconnect cancels the upstream request at once** (the server runs with handler
  cancellation: the cancelled task closes the call layer's stream, which closes the upstream).
- **Chunk by chunk**: each chunk is written as it arrives, never buffered.

The finish reason is sent in a chunk of its own once the upstream stream has ended, followed by
the usage chunk when ``stream_options.include_usage`` is set; the last chunk before ``[DONE]``
carries the ``tierflow`` object (model, attempts, cost, routing decision).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tierflow.errors import GatewayError
from tierflow.gateway.exchange import Exchange, dumps, route_headers
from tierflow.gateway.failures import to_gateway_error
from tierflow.gateway.wire import ChatCall, chunk_body, error_body, usage_body

if TYPE_CHECKING:
    from tierflow.calls.streaming import CallStream
    from tierflow.gateway.core import Gateway
    from tierflow.types import StreamChunk

_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no"}  # nginx: do not buffer the stream


def _event(data: Any) -> bytes:
    return b"data: " + dumps(data) + b"\n\n"


async def relay(request: web.Request, gateway: Gateway, exchange: Exchange, call: ChatCall) -> web.StreamResponse:
    """Stream ``call``'s answer to the client by the rules above."""
    stream = gateway.client.astream(exchange.name, call.messages, request_id=exchange.request_id,
                                    split_key=exchange.split_key, **call.options)
    try:
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - before any content: an ordinary error answer
            raise gateway.wire_error(exc) from exc
        model = stream.target or "unknown"  # set when the stream committed to its first chunk's target
        exchange.variant = stream.variant
        resp = web.StreamResponse(headers={**_SSE_HEADERS, **exchange.headers(model),
                                           **route_headers(stream.decision)})
        await resp.prepare(request)
        await _send(request, resp, exchange, call, stream, first, model)
        return resp
    finally:
        await stream.aclose()


async def _send(request: web.Request, resp: web.StreamResponse, exchange: Exchange, call: ChatCall,
                stream: CallStream, first: StreamChunk | None, model: str) -> None:
    cid, created = exchange.completion_id, exchange.created
    exchange.model = model
    texts: list[str] = []
    await resp.write(_event(chunk_body(cid, created, model, {"role": "assistant", "content": ""})))
    finish: str | None = None
    chunk = first
    try:
        while chunk is not None:
            if chunk.finish_reason:
                finish = chunk.finish_reason
            if chunk.text or chunk.logprobs:
                texts.append(chunk.text)
                await resp.write(_event(chunk_body(cid, created, model, {"content": chunk.text},
                                                   logprobs=chunk.logprobs)))
            if chunk.tool_calls:
                await resp.write(_event(chunk_body(cid, created, model, {"tool_calls": chunk.tool_calls})))
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                chunk = None
    except (asyncio.CancelledError, ConnectionResetError):
        exchange.text = "".join(texts)
        raise
    except Exception as exc:  # noqa: BLE001 - after content: an error event, then the connection is cut
        await _fail(request, resp, exchange, to_gateway_error(exc), exc, texts)
        return
    result = stream.result
    if result is None:  # cannot happen once the stream ended normally; never end it cleanly without one
        await _fail(request, resp, exchange, to_gateway_error(RuntimeError()), None, texts)
        return
    exchange.succeeded(result)
    last = chunk_body(cid, created, model, {}, finish_reason=finish or result.finish_reason or "stop")
    if call.include_usage:
        await resp.write(_event(last))
        last = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
                "usage": usage_body(result.usage)}
    last["tierflow"] = exchange.report(result)
    await resp.write(_event(last) + b"data: [DONE]\n\n")
    await resp.write_eof()


async def _fail(request: web.Request, resp: web.StreamResponse, exchange: Exchange, exc: GatewayError,
                cause: BaseException | None, texts: list[str]) -> None:
    """End a started stream with an error event and cut the connection (no clean end)."""
    exchange.failed(exc, cause, after_content=True)
    exchange.text = "".join(texts)
    try:
        await resp.write(_event(error_body(exc)))
    finally:
        if request.transport is not None:
            request.transport.close()


__all__ = ["relay"]
