"""Shared HTTP plumbing of the HTTP provider adapters (OpenAI-compatible, Anthropic, Gemini).

- :class:`HTTPProvider`: one long-lived ``aiohttp.ClientSession`` per provider instance, created
  lazily in the running event loop, with the configured connection limit.
- ``_post_json`` / ``_post_sse``: one request, every failure mapped to a
  :class:`~tierflow.errors.ProviderError` subclass; SSE events parsed by :mod:`tierflow.providers._sse`.
- Redirects are never followed: a 3xx answer is an error naming its status and the origin it
  points to (never its path or query), so the key and the prompt only ever go to the configured
  host. Text UTF-8 cannot encode is refused before sending (:mod:`tierflow.providers._checks`).
- :func:`guard_stream`: any failure after the first delivered chunk becomes a
  :class:`~tierflow.errors.StreamInterruptedError` (never replayed, never fallen back).

How a failed answer becomes an error, with secrets kept out of it, is in
:mod:`tierflow.providers._http_errors`.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import aclosing
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tierflow.errors import APIStatusError, ProviderError, ResponseFormatError, StreamInterruptedError
from tierflow.providers._checks import TOO_DEEP, parse_json, request_body_error
from tierflow.providers._http_errors import (
    ERROR_BODY_LIMIT,
    EXCERPT_CHARS,
    error_excerpt,
    map_client_error,
    status_error,
)
from tierflow.providers._secrets import secrets_of, url_origin
from tierflow.providers._sse import SSEParser
from tierflow.providers._usage import estimated_usage
from tierflow.providers.base import Provider, ProviderSettings, Timeouts
from tierflow.types import ChatRequest, StreamChunk, Usage

_TIMEOUT_CACHE_SIZE = 16
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one encoder, not one per request


def api_root(base_url: str, default_prefix: str) -> str:
    """``base_url`` without a trailing slash; ``default_prefix`` (e.g. ``/v1``) added when it has no path."""
    base = base_url.rstrip("/")
    return base + default_prefix if urlsplit(base).path in ("", "/") else base


class HTTPProvider(Provider):
    """Base of the HTTP adapters: lazy per-loop session, JSON and SSE requests, error mapping."""

    enforces_timeouts = True  # aiohttp's total timeout covers the request and the body read

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._session: aiohttp.ClientSession | None = None  # the last used, with its loop: the fast path
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._client_timeouts: dict[tuple[Timeouts, bool], aiohttp.ClientTimeout] = {}
        self._secrets: tuple[str, ...] = secrets_of(settings)
        """The API key, then every configured header value: masked in every error message."""
        self._estimated: set[str] = set()
        """Targets whose missing usage was already reported (estimated_usage warns once each)."""

    def _target(self, model: str) -> str:
        return f"{self.name}/{model}"

    def _estimate(self, request: ChatRequest, answer: str | int, target: str) -> Usage:
        """The usage estimate for an answer that reported none (warned once per target)."""
        return estimated_usage(request, answer, target, self._estimated)

    def _session_here(self) -> aiohttp.ClientSession:
        """The session of the running loop (a provider may be used from several loops, e.g. sync twins)."""
        loop = asyncio.get_running_loop()
        if self._session_loop is loop and self._session is not None and not self._session.closed:
            return self._session
        for other in [lp for lp in self._sessions if lp.is_closed()]:
            _drop_session(self._sessions.pop(other))
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.settings.max_connections, limit_per_host=0,
                                             ttl_dns_cache=300)
            session = self._sessions[loop] = aiohttp.ClientSession(connector=connector)
        self._session, self._session_loop = session, loop
        return session

    def _client_timeout(self, timeouts: Timeouts, stream: bool) -> aiohttp.ClientTimeout:
        """aiohttp's form of ``timeouts``, cached (a few: the configured ones; deadline-shrunk ones vary)."""
        key = (timeouts, stream)
        ct = self._client_timeouts.get(key)
        if ct is None:
            # ceil_threshold=inf: fire on time (aiohttp would round timeouts >= 5 s up to the next
            # second, and the call's deadline arrives here as a shrunk total)
            ct = aiohttp.ClientTimeout(total=timeouts.total, sock_connect=timeouts.connect,
                                       sock_read=timeouts.stream_idle if stream else None,
                                       ceil_threshold=math.inf)
            if len(self._client_timeouts) < _TIMEOUT_CACHE_SIZE:
                self._client_timeouts[key] = ct
        return ct

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, {}
        self._session = self._session_loop = None
        here = asyncio.get_running_loop()
        for loop, session in sessions.items():
            if loop is here:
                await session.close()
            elif loop.is_closed():
                _drop_session(session)
            else:
                asyncio.run_coroutine_threadsafe(session.close(), loop)

    async def _send(self, url: str, body: dict[str, Any], headers: Mapping[str, str], timeouts: Timeouts,
                    target: str, stream: bool, request: ChatRequest | None) -> aiohttp.ClientResponse:
        """POST ``body``; an error or redirect status is read, mapped and raised (the response is released)."""
        try:
            payload = _JSON.encode(body).encode()
        except (UnicodeEncodeError, TypeError, ValueError, RecursionError) as exc:
            raise request_body_error(exc, request, body, target) from None
        try:
            resp = await self._session_here().post(url, data=payload, headers=headers, allow_redirects=False,
                                                   timeout=self._client_timeout(timeouts, stream))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_client_error(exc, target, timeouts, stream=stream) from None
        if resp.status >= 300:
            try:
                raw = await _read_capped(resp, ERROR_BODY_LIMIT) if resp.status >= 400 else b""
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                if resp.content.at_eof():
                    resp.release()  # the connection can serve the next request
                else:
                    resp.close()  # a capped body: drop the rest with the connection
            if resp.status < 400:
                raise _redirect_error(resp.status, resp.headers.get("Location", ""), url, target)
            raise status_error(resp.status, raw, resp.headers, target, self._secrets)
        return resp

    async def _post_json(self, url: str, body: dict[str, Any], headers: Mapping[str, str],
                         timeouts: Timeouts, target: str, request: ChatRequest | None = None) -> dict[str, Any]:
        """One non-streamed request; the parsed JSON object of a 2xx answer."""
        resp = await self._send(url, body, headers, timeouts, target, False, request)
        try:
            raw = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            resp.close()
            raise map_client_error(exc, target, timeouts, stream=False) from None
        except BaseException:
            resp.close()  # cancelled: drop the connection so the server sees it go
            raise
        resp.release()
        data = parse_json(raw)
        if not isinstance(data, dict):
            what = "nested too deeply to read" if data is TOO_DEEP else "not a JSON object"
            excerpt, _ = error_excerpt(raw, self._secrets)
            raise ResponseFormatError(f"HTTP {resp.status} with a body that is {what}: {excerpt}",
                                      target=target, status_code=resp.status)
        return data

    async def _post_sse(self, url: str, body: dict[str, Any], headers: Mapping[str, str],
                        timeouts: Timeouts, target: str, request: ChatRequest | None = None
                        ) -> AsyncIterator[tuple[str, str]]:
        """One streamed request: ``(event, data)`` pairs of its server-sent events."""
        resp = await self._send(url, body, headers, timeouts, target, True, request)
        done = False
        try:
            ctype = resp.headers.get("Content-Type", "")
            if ctype.startswith(("application/json", "text/html")):
                raw = await resp.content.read(EXCERPT_CHARS)
                excerpt, _ = error_excerpt(raw, self._secrets)
                raise ResponseFormatError(f"expected an event stream, got {ctype.split(';')[0]}: {excerpt}",
                                          target=target, status_code=resp.status)
            parser = SSEParser()
            async for chunk in resp.content.iter_any():
                for item in parser.feed(chunk):
                    yield item
            for item in parser.close():
                yield item
            done = True
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise map_client_error(exc, target, timeouts, stream=True) from None
        finally:
            if done:
                resp.release()
            else:
                resp.close()  # stopped early, failed or cancelled: close the upstream connection


def _redirect_error(status: int, location: str, url: str, target: str) -> APIStatusError:
    """A 3xx answer: refused, naming the origin it points to (its path and query may hold secrets)."""
    here = url_origin(url)
    there = url_origin(location) if location else ""
    if not location:
        where = "with no Location"
    elif not there or there == here:
        where = f"to another path on the same origin {here}"
    else:
        where = f"to {there} (another origin)"
    return APIStatusError(f"HTTP {status}: the provider redirected {where}; provider calls never follow "
                          "redirects, so the key and the prompt only go to the configured host. Set base_url "
                          "to the address that answers directly", target=target, status_code=status)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of an error body (a hostile server may send gigabytes)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        part = await resp.content.read(limit - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _drop_session(session: aiohttp.ClientSession) -> None:
    """Forget a session whose event loop is closed (its sockets died with the loop)."""
    connector = session.connector
    session.detach()
    if connector is not None:
        _run_without_loop(connector.close())


def _run_without_loop(awaitable: Awaitable[None]) -> None:
    """Run an awaitable that has nothing to wait for (a connector's close once its loop is closed: it only
    marks itself closed), so it is neither left un-awaited (a RuntimeWarning) nor needs a loop."""
    steps = awaitable.__await__()
    try:
        next(steps)
    except StopIteration:
        return
    steps.close()  # it wanted to wait on its closed loop: nothing there can finish, stop it


def loads_event(data: str, target: str, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON object of one SSE ``data`` field, or ResponseFormatError."""
    obj = parse_json(data)
    if not isinstance(obj, dict):
        what = "nested too deeply to read" if obj is TOO_DEEP else "not a JSON object"
        excerpt, _ = error_excerpt(data, secrets)
        raise ResponseFormatError(f"stream event is {what}: {excerpt}", target=target)
    return obj


async def guard_stream(chunks: AsyncIterator[StreamChunk], target: str) -> AsyncIterator[StreamChunk]:
    """Yield ``chunks``; a failure after the first one is re-raised as StreamInterruptedError."""
    delivered = 0
    async with aclosing(chunks):  # type: ignore[type-var]
        try:
            async for chunk in chunks:
                delivered += 1
                yield chunk
        except ProviderError as exc:
            if delivered == 0 or isinstance(exc, StreamInterruptedError):
                raise
            message = str(exc).removeprefix(f"{exc.target}: ")
            raise StreamInterruptedError(
                f"stream failed after {delivered} chunk(s) were delivered ({type(exc).__name__}: {message})",
                target=target, status_code=exc.status_code) from exc


__all__ = ["HTTPProvider", "api_root", "loads_event", "guard_stream"]
