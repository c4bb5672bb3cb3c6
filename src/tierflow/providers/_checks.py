"""Guards at the provider boundary: requests that cannot be sent, answers that cannot be read.

- :func:`unencodable_field` / :func:`request_body_error`: text that is not valid Unicode (a lone
  surrogate such as ``"\\ud800"``, which Python strings can hold and UTF-8 cannot encode) is refused
  as a :class:`~tierflow.errors.BadRequestError` naming the message and field, before anything
  is sent.
- :func:`reading_answer`: a JSON answer of the wrong shape (a string where an object belongs, a
  list where a number belongs) becomes a :class:`~tierflow.errors.ResponseFormatError`, which the
  call layer retries and falls back on, instead of a raw ``TypeError`` / ``AttributeError``.
- :func:`parse_json`: ``json.loads`` that also turns a document nested too deeply for the parser
  (``RecursionError``) into "not JSON".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tierflow.errors import BadRequestError, ProviderError, ResponseFormatError
from tierflow.providers._secrets import redact
from tierflow.types import ChatRequest

NOT_JSON: Any = object()
"""What :func:`parse_json` returns for text that is not JSON."""
TOO_DEEP: Any = object()
"""What :func:`parse_json` returns for JSON nested deeper than the parser can follow."""


def parse_json(raw: bytes | str) -> Any:
    """The parsed JSON value, :data:`NOT_JSON` or :data:`TOO_DEEP` (never an exception)."""
    try:
        return json.loads(raw)
    except ValueError:
        return NOT_JSON
    except RecursionError:
        return TOO_DEEP


def _bad_text(value: Any, path: str, depth: int = 0) -> str | None:
    """The path of the first string under ``value`` that UTF-8 cannot encode, or None."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{path} (character {exc.start}: {value[exc.start]!a})"
        return None
    if depth > 64:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _bad_text(item, f"{path}.{key}" if path else str(key), depth + 1)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _bad_text(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def unencodable_field(request: ChatRequest) -> str | None:
    """Where ``request`` holds text that UTF-8 cannot encode (``messages[2].content (...)``), or None."""
    for i, message in enumerate(request.messages):
        found = _bad_text(message, f"messages[{i}]")
        if found:
            return found
    return (_bad_text(request.stop, "stop") or _bad_text(request.response_format, "response_format")
            or _bad_text(request.extra, ""))


def request_body_error(exc: Exception, request: ChatRequest | None, body: Any, target: str) -> BadRequestError:
    """The error for a request body that cannot be encoded: where the bad text is, and what to do."""
    where = (unencodable_field(request) if request is not None else None) or _bad_text(body, "body")
    if where:
        return BadRequestError(f"{where} is not valid Unicode text (a lone surrogate; UTF-8 cannot encode "
                               "it): fix or drop it before calling", target=target, status_code=400)
    return BadRequestError(f"the request cannot be encoded as JSON ({type(exc).__name__}: "
                           f"{redact(str(exc))[:200]})", target=target, status_code=400)


@contextmanager
def reading_answer(target: str, secrets: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn a wrongly shaped answer, met while reading it, into a ResponseFormatError."""
    try:
        yield
    except ProviderError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        detail = redact(str(exc), secrets)[:200]
        raise ResponseFormatError(f"the answer does not have the protocol's shape ({type(exc).__name__}: "
                                  f"{detail})", target=target) from None


__all__ = ["NOT_JSON", "TOO_DEEP", "parse_json", "unencodable_field", "request_body_error", "reading_answer"]
