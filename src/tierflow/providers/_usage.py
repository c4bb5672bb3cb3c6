"""Token counts from provider answers: checked, and estimated when the answer has none.

A provider's usage object is untrusted input. :func:`token_count` accepts a whole, non-negative
number and refuses anything else (a string, a negative or fractional count, ``true``) as a
:class:`~tierflow.errors.ResponseFormatError`, which the call layer retries and falls back on;
:func:`checked_usage` also refuses parts larger than their whole (more cached tokens than input
tokens), so a cost can never come out negative.

An answer with no usage at all (a server that ignores ``stream_options.include_usage``, a gateway
that strips it) gets :func:`estimated_usage`: about four characters per token plus four tokens per
message, marked ``estimated=True``, so a priced model is never billed $0 for a real answer (see
the README's Cost section).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tierflow.errors import ResponseFormatError
from tierflow.types import ChatRequest, Usage

_CHARS_PER_TOKEN = 4  # the OpenAI rule of thumb for English text
_TOKENS_PER_MESSAGE = 4  # the chat template's tokens around each message
_log = logging.getLogger("tierflow.providers")


def token_count(data: Mapping[str, Any], key: str, target: str, where: str = "usage") -> int:
    """``data[key]`` as a token count (0 when absent or null); ResponseFormatError if it is not one."""
    value = data.get(key)
    if type(value) is int and value >= 0:  # the common case first (bool is not int here)
        return value
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    shown = type(value).__name__ if isinstance(value, (str, list, dict)) else repr(value)
    raise ResponseFormatError(f"{where}.{key} is not a token count (a whole number >= 0), got {shown}",
                              target=target)


def usage_mapping(value: Any, target: str, where: str = "usage") -> Mapping[str, Any] | None:
    """``value`` when it is a usage object; None when absent; ResponseFormatError for another type."""
    if value is None:
        return None
    if isinstance(value, dict) or isinstance(value, Mapping):  # dict first: the ABC check is slower
        return value
    raise ResponseFormatError(f"{where} is not an object, got {type(value).__name__}", target=target)


def checked_usage(usage: Usage, target: str) -> Usage:
    """``usage`` when every part fits in its whole; ResponseFormatError otherwise."""
    parts = (("cached_tokens + cache_write_tokens", usage.cached_tokens + usage.cache_write_tokens,
              "input_tokens", usage.input_tokens),
             ("reasoning_tokens", usage.reasoning_tokens, "output_tokens", usage.output_tokens),
             ("cache_write_1h_tokens", usage.cache_write_1h_tokens, "cache_write_tokens",
              usage.cache_write_tokens))
    for part, count, whole, total in parts:
        if count > total:
            raise ResponseFormatError(f"usage reports {part} ({count}) above {whole} ({total})", target=target)
    return usage


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def estimate_tokens(text: str | int) -> int:
    """About one token per four characters of ``text`` (or of that many characters), rounded up."""
    chars = text if isinstance(text, int) else len(text)
    return -(-chars // _CHARS_PER_TOKEN)


def estimated_usage(request: ChatRequest, answer: str | int, target: str, warned: set[str]) -> Usage:
    """A usage estimate (``estimated=True``) for an ``answer`` (its text or length) that reported none.

    Logged once per target and ``warned`` set (each provider keeps one): the count is an estimate,
    and so is the cost computed from it.
    """
    if target not in warned:
        warned.add(target)
        _log.warning("%s answered without token usage: usage and cost are estimated (about 4 characters "
                     "per token; usage.estimated is True)", target)
    prompt = sum(estimate_tokens(_message_text(m.get("content"))) + _TOKENS_PER_MESSAGE
                 for m in request.messages)
    return Usage(input_tokens=prompt, output_tokens=estimate_tokens(answer), estimated=True)


__all__ = ["token_count", "usage_mapping", "checked_usage", "estimate_tokens", "estimated_usage"]
