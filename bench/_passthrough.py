"""The floor of ``bench/bench_gateway.py``: a bare aiohttp pass-through proxy (no checks, no ledger).

    python bench/_passthrough.py PORT UPSTREAM_URL

``POST /v1/chat/completions`` is forwarded to ``UPSTREAM_URL/v1/chat/completions`` through one
pooled aiohttp client session and the answer relayed as it arrives (JSON or SSE alike).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

_SESSION = web.AppKey("session", aiohttp.ClientSession)


def app(upstream: str) -> web.Application:
    url = upstream + "/v1/chat/completions"

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with request.app[_SESSION].post(url, data=body, headers={"Content-Type": "application/json"}) as up:
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": up.headers["Content-Type"]})
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[_SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app[_SESSION].close()

    application = web.Application()
    application.cleanup_ctx.append(session)
    application.router.add_post("/v1/chat/completions", proxy)
    application.router.add_get("/health", health)
    return application


if __name__ == "__main__":
    web.run_app(app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
