"""HTTP error answers and client failures as :class:`~tierflow.errors.ProviderError` subclasses, secrets kept out.

- :func:`status_error`: an HTTP status and body -> the error class (408/409/429/5xx retryable),
  with the wait from ``retry-after-ms`` / ``Retry-After`` or Gemini's ``retryDelay``.
- :func:`map_client_error`: an aiohttp / asyncio exception -> the matching error, with no
  exception chained that could carry headers.
- :func:`error_excerpt`: a provider's error body as a short message, masked (by
  :mod:`tierflow.providers._secrets`) before it is cut, read from at most :data:`ERROR_BODY_LIMIT`
  bytes.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from tierflow.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    UnprocessableEntityError,
)
from tierflow.providers._secrets import Masker, redact, safe_url, strip_urls
from tierflow.providers.base import Timeouts

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    422: UnprocessableEntityError, 429: RateLimitError, 408: ServerError, 409: ServerError}
EXCERPT_CHARS = 300
ERROR_BODY_LIMIT = 64 * 1024
"""The most bytes of an error body read (the excerpt is masked from this, then cut)."""


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred) or ``Retry-After`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        value = float(ra)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(ra)
        except (TypeError, ValueError, IndexError):
            return None
        value = when.timestamp() - time.time()
        return max(0.0, value)
    return value if value >= 0 else None


def _body_retry_after(data: Any) -> float | None:
    """Gemini's ``error.details[].retryDelay`` ("30s")."""
    try:
        for detail in data["error"]["details"]:
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                return float(delay[:-1])
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    return None


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to read
        return None


def error_excerpt(raw: bytes | str, secrets: tuple[str, ...] = ()) -> tuple[str, Any]:
    """A short, masked excerpt of a provider's error body, and the parsed JSON (or None).

    The whole text is masked first and cut to :data:`EXCERPT_CHARS` after, so a cut can never leave
    a piece of a key behind.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    data = _parse(text)
    message = text
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            found = err.get("message") or err.get("detail") or data.get("message")
            message = str(found) if found else text
        elif isinstance(err, str):
            message = err
    message = strip_urls(Masker(secrets)(" ".join(message.split())))
    if len(message) > EXCERPT_CHARS:
        message = message[:EXCERPT_CHARS] + "..."
    return message or "(empty body)", data


def status_error(status: int, raw: bytes | str, headers: Mapping[str, str], target: str,
                 secrets: tuple[str, ...] = ()) -> APIStatusError:
    """The error for an HTTP error answer (408/409/429/5xx are the retryable ones)."""
    excerpt, data = error_excerpt(raw, secrets)
    cls = _STATUS_ERRORS.get(status) or (ServerError if status >= 500 else APIStatusError)
    retry_after = parse_retry_after(headers)
    if retry_after is None:
        retry_after = _body_retry_after(data)
    return cls(f"HTTP {status}: {excerpt}", target=target, status_code=status, retry_after_s=retry_after)


def map_client_error(exc: BaseException, target: str, timeouts: Timeouts, *, stream: bool) -> ProviderError:
    """An aiohttp / asyncio exception -> the matching ``ProviderError`` (message free of headers)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"connect timeout after {timeouts.connect:g}s", target=target)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        what = "stream idle timeout" if stream else "read timeout"
        return APITimeoutError(f"{what}: no data for {timeouts.stream_idle:g}s", target=target)
    if isinstance(exc, TimeoutError):
        return APITimeoutError(f"total timeout after {timeouts.total:g}s", target=target)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError("connection closed before the response was complete", target=target)
    if isinstance(exc, aiohttp.InvalidURL):
        return APIConnectionError(f"invalid URL {safe_url(str(exc.url))}", target=target)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ResponseFormatError(f"malformed HTTP response ({exc.message})", target=target)
    reason = type(exc).__name__
    detail = strip_urls(redact(str(exc).splitlines()[0]))[:200] if str(exc) else ""
    return APIConnectionError(f"connection failed: {reason}" + (f": {detail}" if detail else ""), target=target)


__all__ = ["EXCERPT_CHARS", "ERROR_BODY_LIMIT", "parse_retry_after", "error_excerpt", "status_error",
           "map_client_error"]
