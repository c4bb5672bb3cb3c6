"""The candidate server stacks of ``bench/bench_server_stack.py``: one minimal gateway, four ways.

Each stack serves the same two endpoints, with the same outbound client (aiohttp, as tierflow's
providers use):

- ``POST /v1/chat/completions``: parse an OpenAI chat request, answer a fixed chat completion
  (the server's own cost: HTTP parsing, routing, JSON in and out);
- ``POST /v1/stream``: relay the upstream's SSE answer chunk by chunk (what a streaming gateway
  does on every request);
- ``GET /health``: readiness for the driver.

Run one with ``python bench/_stack_apps.py STACK PORT UPSTREAM_URL`` (the driver does).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

_JSON = {"Content-Type": "application/json"}
_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def completion(raw: bytes) -> bytes:
    """A chat completion answering ``raw`` (a chat request), as an OpenAI server would."""
    body = json.loads(raw)
    words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "bench"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A short fixed answer."},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": words, "completion_tokens": 4, "total_tokens": words + 4},
    }).encode()


def _upstream() -> str:
    return os.environ["BENCH_UPSTREAM"] + "/v1/chat/completions"


# --- aiohttp.web ---------------------------------------------------------------------------------


def aiohttp_app() -> Any:
    import aiohttp
    from aiohttp import web

    upstream = _upstream()

    async def chat(request: web.Request) -> web.Response:
        return web.Response(body=completion(await request.read()), headers=_JSON)

    async def stream(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with request.app["session"].post(upstream, data=body, headers=_JSON) as up:
            resp = web.StreamResponse(headers=_SSE)
            try:
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            except ConnectionResetError:  # wrk closes its connections when a run ends
                pass
            return resp

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/stream", stream)
    app.router.add_get("/health", health)
    return app


# --- Starlette (ASGI: served by uvicorn or granian) -------------------------------------------------


def starlette_app() -> Any:
    """The Starlette app (also granian's factory target)."""
    import contextlib

    import aiohttp
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    upstream = _upstream()
    state: dict[str, Any] = {}

    async def chat(request: Request) -> Response:
        return Response(completion(await request.body()), headers=_JSON)

    async def stream(request: Request) -> Response:
        body = await request.body()
        up = await state["session"].post(upstream, data=body, headers=_JSON)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in up.content.iter_any():
                    yield chunk
            finally:
                up.release()

        return StreamingResponse(relay(), headers=_SSE)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await state["session"].close()

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/stream", stream, methods=["POST"]),
                             Route("/health", health)], lifespan=lifespan)


# --- launching one stack --------------------------------------------------------------------------


def serve(stack: str, port: int) -> None:
    if stack == "aiohttp":
        from aiohttp import web
        web.run_app(aiohttp_app(), host="127.0.0.1", port=port, access_log=None, print=None)
    elif stack == "aiohttp+uvloop":
        import uvloop
        from aiohttp import web
        web.run_app(aiohttp_app(), host="127.0.0.1", port=port, access_log=None, print=None,
                    loop=uvloop.new_event_loop())
    elif stack in ("uvicorn", "uvicorn-h11"):
        import uvicorn
        std = stack == "uvicorn"  # uvicorn[standard]: uvloop + httptools; plain: asyncio + h11
        uvicorn.run(starlette_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                    loop="uvloop" if std else "asyncio", http="httptools" if std else "h11")
    elif stack == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from granian.log import LogLevels
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        Granian("_stack_apps:starlette_app", address="127.0.0.1", port=port, interface=Interfaces.ASGI,
                workers=1, factory=True, log_access=False, log_level=LogLevels.warning).serve()
    else:
        raise SystemExit(f"unknown stack {stack!r}")


if __name__ == "__main__":
    os.environ["BENCH_UPSTREAM"] = sys.argv[3]
    try:
        serve(sys.argv[1], int(sys.argv[2]))
    except KeyboardInterrupt:
        pass
    asyncio.set_event_loop(None)
