"""HTTP error answers and client failures as :class:`~tierflow.errors.ProviderError` subclasses, secrets kept out.

- :func:`status_error`: an HTTP status and body -> the error class (408/409/429/5xx retryable),
  with the wait from ``retry-after-ms`` / ``Retry-After`` or Gemini's ``retryDelay``.
- :func:`map_client_error`: an aiohttp / asyncio exception -> the matching error, with no
  exception chained that could carry headers.
- :class:`SecretHeaders` masks credentials in its ``repr``; :func:`redact` removes the key and
  key-shaped strings from any text that reaches an error message.
"""

from __future__ import annotations

import email.utils
import json
import re
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
from tierflow.providers.base import Timeouts

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    422: UnprocessableEntityError, 429: RateLimitError, 408: ServerError, 409: ServerError}
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "x-goog-api-key", "proxy-authorization"})
_KEY_SHAPES = re.compile(r"(?:sk-[A-Za-z0-9_\-*.]{6,}|AIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+)")
EXCERPT_CHARS = 300


class SecretHeaders(dict[str, str]):
    """Request headers whose ``repr`` / ``str`` mask credential values."""

    def __repr__(self) -> str:
        return repr({k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in self.items()})

    __str__ = __repr__


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every secret and every key-shaped string replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_SHAPES.sub("***", text)


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


def error_excerpt(raw: bytes | str, secrets: tuple[str, ...] = ()) -> tuple[str, Any]:
    """A short, redacted excerpt of a provider's error body, and the parsed JSON (or None)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    data: Any = None
    message = text
    try:
        data = json.loads(text)
    except ValueError:
        pass
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            found = err.get("message") or err.get("detail") or data.get("message")
            message = str(found) if found else text
        elif isinstance(err, str):
            message = err
    message = " ".join(message.split())
    if len(message) > EXCERPT_CHARS:
        message = message[:EXCERPT_CHARS] + "..."
    return redact(message, secrets) or "(empty body)", data


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
        return APIConnectionError(f"invalid URL {exc.url}", target=target)
    if isinstance(exc, aiohttp.ClientResponseError):
        return ResponseFormatError(f"malformed HTTP response ({exc.message})", target=target)
    reason = type(exc).__name__
    detail = str(exc).splitlines()[0][:200] if str(exc) else ""
    return APIConnectionError(f"connection failed: {reason}" + (f": {detail}" if detail else ""), target=target)


__all__ = ["EXCERPT_CHARS", "SecretHeaders", "redact", "parse_retry_after", "error_excerpt", "status_error",
           "map_client_error"]
