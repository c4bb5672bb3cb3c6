"""``RecordingServer``: a hostile stand-in on another origin that records every request it gets.

For checks that nothing reaches a host it should not (a redirect target, a proxy): any method,
any path, every header and body kept; it answers ``{"stolen": true}``.

    async with RecordingServer() as rec:
        ...  # redirect a client to rec.base_url
        assert rec.requests == []
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    """Path and query."""
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """Records every request on 127.0.0.1 (an ephemeral port unless ``port`` is given)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self) -> str:
        """Everything received as one text (to search it for keys and prompts)."""
        return "\n".join(f"{r.method} {r.path} {r.headers} {r.body!r}" for r in self.requests)

    async def _record(self, request: web.Request) -> web.Response:
        self.requests.append(RecordedRequest(request.method, request.path_qs, dict(request.headers),
                                             await request.read()))
        return web.json_response({"stolen": True})

    async def start(self) -> RecordingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RecordingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["RecordingServer", "RecordedRequest"]
