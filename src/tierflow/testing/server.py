"""``LLMTestServer``: a real HTTP server on 127.0.0.1 that speaks the LLM wire protocols.

Provider and reliability tests talk to it instead of patching clients. Per model, a script of
behaviours (:mod:`tierflow.testing.behaviours`) is consumed in order, then the model's default
(normally a deterministic answer derived from the last user message). The server counts requests
per model, keeps every request body, and records client disconnects (to prove cancellation).

Routes: ``POST /v1/chat/completions``, ``POST /openai/deployments/{model}/chat/completions``
(Azure), ``POST /v1/messages`` (Anthropic), ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (Gemini; also Vertex AI's
``/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:...``), the
embedding routes ``POST /v1/embeddings`` and Gemini's ``:batchEmbedContents``
(:mod:`tierflow.testing.embeddings`), plus the control API under ``/_control`` (see ``__main__``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tierflow.testing import embeddings
from tierflow.testing.behaviours import (
    Answer,
    Behaviour,
    CutStream,
    Garbage,
    Hang,
    Redirect,
    SlowStream,
    Status,
    behaviour_from_dict,
)
from tierflow.testing.protocols import AnthropicWire, GeminiWire, OpenAIWire, Wire
from tierflow.testing.wire import Prompt, WireError, make_reply

_OPENAI, _ANTHROPIC, _GEMINI = OpenAIWire(), AnthropicWire(), GeminiWire()


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One request as the server received it (headers included, for header assertions)."""

    protocol: str
    model: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class LLMTestServer:
    """Loopback LLM server. ``async with LLMTestServer() as srv`` or ``LLMTestServer.start_in_thread()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, record_requests: bool = True) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the test server binds loopback only, not {host!r}")
        self.host, self.port = host, port
        self.record_requests = record_requests
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Behaviour]] = defaultdict(deque)
        self._defaults: dict[str, Behaviour] = {}
        self._counts: Counter[str] = Counter()
        self._disconnects: Counter[str] = Counter()
        self.received: list[ReceivedRequest] = []
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- scripting and inspection (thread-safe) -----------------------------------------------

    def script(self, model: str, behaviours: Iterable[Behaviour]) -> None:
        """Append behaviours for ``model``; each request to it consumes the next one."""
        with self._lock:
            self._scripts[model].extend(behaviours)

    def set_default(self, model: str, behaviour: Behaviour) -> None:
        """What ``model`` does once its script is used up (``"*"``: every model without its own)."""
        with self._lock:
            self._defaults[model] = behaviour

    def reset(self) -> None:
        """Forget scripts, defaults, counts, requests and disconnects."""
        with self._lock:
            self._scripts.clear()
            self._defaults.clear()
            self._counts.clear()
            self._disconnects.clear()
            self.received.clear()

    def count(self, model: str | None = None) -> int:
        """Requests received for ``model`` (all models when None)."""
        with self._lock:
            return self._counts[model] if model is not None else sum(self._counts.values())

    def disconnects(self, model: str | None = None) -> int:
        """Requests for ``model`` whose client went away before the answer was complete."""
        with self._lock:
            return self._disconnects[model] if model is not None else sum(self._disconnects.values())

    async def wait_for_disconnect(self, model: str | None = None, n: int = 1, timeout: float = 5.0) -> bool:
        """Poll until ``n`` disconnects were seen for ``model``; False on timeout."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.disconnects(model) < n:
            if loop.time() > end:
                return False
            await asyncio.sleep(0.01)
        return True

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies received, in order."""
        with self._lock:
            return [r.body for r in self.received]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _next(self, model: str) -> Behaviour:
        with self._lock:
            self._counts[model] += 1
            queue = self._scripts.get(model)
            if queue:
                return queue.popleft()
            return self._defaults.get(model) or self._defaults.get("*") or Answer()

    # --- lifecycle ----------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/chat/completions", self._openai)
        app.router.add_post("/openai/deployments/{model}/chat/completions", self._openai)
        app.router.add_post("/v1/embeddings", self._openai_embeddings)
        app.router.add_post("/embeddings", self._openai_embeddings)
        app.router.add_post("/openai/deployments/{model}/embeddings", self._openai_embeddings)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1beta/models/{call}", self._gemini)
        app.router.add_post("/v1/models/{call}", self._gemini)
        app.router.add_post("/v1/projects/{project}/locations/{location}/publishers/google/models/{call}",
                            self._gemini)
        app.router.add_post("/_control/script", self._ctl_script)
        app.router.add_post("/_control/default", self._ctl_default)
        app.router.add_post("/_control/reset", self._ctl_reset)
        app.router.add_get("/_control/count", self._ctl_count)
        app.router.add_get("/health", self._ctl_health)
        return app

    async def start(self) -> LLMTestServer:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LLMTestServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    def start_in_thread(cls, host: str = "127.0.0.1", port: int = 0, *,
                        record_requests: bool = True) -> LLMTestServer:
        """Run the server on its own event loop in a daemon thread (for sync code); ``stop()`` ends it."""
        srv = cls(host, port, record_requests=record_requests)
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            srv._loop = loop
            try:
                loop.run_until_complete(srv.start())
            except BaseException as exc:  # reported to the caller below
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(srv.close())
            loop.close()

        srv._thread = threading.Thread(target=run, name="LLMTestServer", daemon=True)
        srv._thread.start()
        started.wait()
        if errors:
            raise errors[0]
        return srv

    def stop(self) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = self._thread = None

    # --- protocol routes ----------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, _OPENAI, request.match_info.get("model"))

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, _ANTHROPIC, None)

    async def _openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        return await embeddings.handle(request, "openai", request.match_info.get("model"), self._embedding_request,
                                       self._hang)

    def _embedding_request(self, protocol: str, model: str, path: str, body: dict[str, Any]) -> Behaviour:
        if self.record_requests:
            with self._lock:
                self.received.append(ReceivedRequest(protocol, model, path, body, {}))
        return self._next(model)

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["call"].rpartition(":")
        if action == "batchEmbedContents" and model:
            return await embeddings.handle(request, "gemini", model, self._embedding_request, self._hang)
        if action not in ("generateContent", "streamGenerateContent") or not model:
            return web.json_response(_GEMINI.error(404, f"unknown method {action!r}"), status=404)
        return await self._handle(request, _GEMINI, model, stream=action == "streamGenerateContent")

    async def _handle(self, request: web.Request, wire: Wire, model: str | None,
                      stream: bool | None = None) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise WireError("the request body must be a JSON object")
            prompt = wire.parse(body, model)
        except (ValueError, WireError) as exc:
            return web.json_response(wire.error(400, f"invalid request: {exc}"), status=400)
        if stream is not None:
            prompt.stream = stream
        if self.record_requests:
            with self._lock:
                self.received.append(ReceivedRequest(wire.name, prompt.model, request.path, body,
                                                     dict(request.headers)))
        behaviour = self._next(prompt.model)
        try:
            return await self._perform(request, wire, prompt, behaviour)
        except ConnectionError:  # the client went away (cancelled, timed out): record it, stay quiet
            self._disconnected(prompt.model)
            return web.Response(status=499)
        except asyncio.CancelledError:
            self._disconnected(prompt.model)
            raise

    def _disconnected(self, model: str) -> None:
        with self._lock:
            self._disconnects[model] += 1

    async def _perform(self, request: web.Request, wire: Wire, prompt: Prompt,
                       b: Behaviour) -> web.StreamResponse:
        if isinstance(b, Status):
            headers = {}
            if b.retry_after is not None:
                headers["Retry-After"] = str(b.retry_after)
            if b.retry_after_ms is not None:
                headers["retry-after-ms"] = str(b.retry_after_ms)
            retry = float(b.retry_after) if isinstance(b.retry_after, (int, float)) else None
            message = b.message or f"scripted status {b.code}"
            return web.json_response(wire.error(b.code, message, retry), status=b.code, headers=headers)
        if isinstance(b, Redirect):
            return web.Response(status=b.code, headers={"Location": b.location})
        if isinstance(b, Garbage):
            return web.Response(status=b.status, body=b.body.encode(), content_type=b.content_type)
        if isinstance(b, Hang):
            if await self._hang(request, b.seconds):
                raise ConnectionResetError("client went away while the server hung")
            b = Answer()
        text = b.text if isinstance(b, (Answer, CutStream, SlowStream)) else None
        reply = make_reply(prompt, b if isinstance(b, Answer) else None, text)
        if not prompt.stream:
            if isinstance(b, SlowStream):
                await asyncio.sleep(b.chunk_delay * max(0, len(reply.pieces) - b.fast_chunks))
            payload = json.dumps(wire.complete(prompt, reply)).encode()
            if isinstance(b, CutStream):
                return await self._cut_body(request, payload)
            return web.Response(body=payload, content_type="application/json")
        pre, content, post = wire.events(prompt, reply)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for event in pre:
            await resp.write(event)
        for i, event in enumerate(content):
            if isinstance(b, CutStream) and i >= b.after_chunks:
                return self._cut(request, resp)
            if isinstance(b, SlowStream) and i >= b.fast_chunks:
                await asyncio.sleep(b.chunk_delay)
            await resp.write(event)
        if isinstance(b, CutStream) and b.after_chunks >= len(content):
            return self._cut(request, resp)
        for event in post:
            await resp.write(event)
        await resp.write_eof()
        return resp

    async def _hang(self, request: web.Request, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as the client has closed the connection."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            transport = request.transport
            if transport is None or transport.is_closing():
                return True
            await asyncio.sleep(min(0.01, max(0.0, end - loop.time())))
        return False

    async def _cut_body(self, request: web.Request, payload: bytes) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(payload)
        await resp.prepare(request)
        await resp.write(payload[: len(payload) // 2])
        return self._cut(request, resp)

    def _cut(self, request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return resp

    # --- control API (used by ``python -m tierflow.testing``) ---------------------------------

    async def _ctl_script(self, request: web.Request) -> web.Response:
        try:
            data = await _control_json(request)
            self.script(data["model"], [behaviour_from_dict(d) for d in data.get("behaviours", [])])
        except (KeyError, TypeError, ValueError) as exc:
            return _control_error(exc, '{"model": "m", "behaviours": [{"kind": "status", "code": 500}]}')
        return web.json_response({"ok": True})

    async def _ctl_default(self, request: web.Request) -> web.Response:
        try:
            data = await _control_json(request)
            self.set_default(data["model"], behaviour_from_dict(data["behaviour"]))
        except (KeyError, TypeError, ValueError) as exc:
            return _control_error(exc, '{"model": "m", "behaviour": {"kind": "answer", "text": "hi"}}')
        return web.json_response({"ok": True})

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _ctl_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _ctl_count(self, request: web.Request) -> web.Response:
        model = request.query.get("model")
        return web.json_response({"count": self.count(model), "disconnects": self.disconnects(model)})


async def _control_json(request: web.Request) -> dict[str, Any]:
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError(f"the body must be a JSON object, got {type(data).__name__}")
    if not isinstance(data.get("model"), str):
        raise KeyError("model")
    return data


def _control_error(exc: Exception, shape: str) -> web.Response:
    """A 400 naming what was wrong with a control request and the shape expected."""
    if isinstance(exc, KeyError):
        why = f"field {exc} is missing or not a string" if exc.args[0] == "model" else f"missing field {exc}"
    elif isinstance(exc, json.JSONDecodeError):
        why = f"the body is not JSON ({exc.msg})"
    else:
        why = str(exc)
    return web.json_response({"error": f"{why}; expected {shape}"}, status=400)


__all__ = ["LLMTestServer", "ReceivedRequest"]
