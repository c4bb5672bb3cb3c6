"""What the test server does with one request: scripted behaviours, consumed in order per model.

Each behaviour is a small frozen dataclass. The server applies it in the wire format of the route
that was called (OpenAI, Anthropic or Gemini), so one script exercises every provider adapter.
Behaviours also have a plain-dict form (``{"kind": "status", "code": 500}``) for the standalone
server's control API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer normally. ``text=None`` means the deterministic default derived from the prompt.

    Token counts default to word counts; ``cached_tokens`` / ``reasoning_tokens`` are reported in
    the protocol's usage details when non-zero; ``cache_write_tokens`` (of which
    ``cache_write_1h_tokens`` for an hour) in Anthropic's ``cache_creation_input_tokens``.
    ``usage=False`` leaves the usage out of the answer (and of every stream event);
    ``usage_override`` is sent verbatim as the protocol's usage object (hostile counts: strings,
    negative numbers).
    """

    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    usage: bool = True
    usage_override: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """Answer with HTTP ``code`` and the protocol's error body.

    ``retry_after`` is sent as the ``Retry-After`` header (seconds, or a string such as an
    HTTP date); ``retry_after_ms`` as ``retry-after-ms``.
    """

    code: int
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Hang:
    """Send nothing for ``seconds`` (to exercise timeouts), then answer normally."""

    seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class CutStream:
    """Send ``after_chunks`` content chunks, then close the connection without finishing.

    On a non-streaming request the headers and part of the body are sent before the cut.
    """

    after_chunks: int = 1
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Garbage:
    """Answer ``body`` as is, with ``status`` and ``content_type``: broken JSON, an HTML error page,
    or a hand-written event stream (``content_type="text/event-stream"``)."""

    body: str = "not json"
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Redirect:
    """Answer with redirect status ``code`` (301, 302, 303, 307, 308) and ``Location: location``
    (to check that clients do not follow it to another host with the key and the prompt)."""

    code: int = 307
    location: str = "http://127.0.0.1:9/v1/chat/completions"


@dataclass(frozen=True, slots=True)
class SlowStream:
    """Answer normally but wait ``chunk_delay`` seconds before each content chunk after the first
    ``fast_chunks`` (so a stream-idle timeout can hit before or after the first chunk)."""

    chunk_delay: float = 1.0
    text: str | None = None
    fast_chunks: int = 0


Behaviour = Answer | Status | Hang | CutStream | Garbage | SlowStream | Redirect

_KINDS: dict[str, type[Behaviour]] = {"answer": Answer, "status": Status, "hang": Hang, "cut_stream": CutStream,
                           "garbage": Garbage, "slow_stream": SlowStream, "redirect": Redirect}
_NAMES: dict[type[Behaviour], str] = {cls: name for name, cls in _KINDS.items()}


def behaviour_from_dict(data: dict[str, Any]) -> Behaviour:
    """``{"kind": "status", "code": 429, "retry_after": 1}`` -> ``Status(429, retry_after=1)``."""
    if not isinstance(data, dict) or data.get("kind") not in _KINDS:
        raise ValueError(f"a behaviour is an object with 'kind' in {sorted(_KINDS)}, got {data!r}")
    cls = _KINDS[data["kind"]]
    allowed = {f.name for f in fields(cls)}
    unknown = set(data) - allowed - {"kind"}
    if unknown:
        raise ValueError(f"behaviour {data['kind']!r}: unknown field(s) {sorted(unknown)}; "
                         f"allowed: {sorted(allowed)}")
    return cls(**{k: v for k, v in data.items() if k != "kind"})


def behaviour_to_dict(behaviour: Behaviour) -> dict[str, Any]:
    """The inverse of :func:`behaviour_from_dict`."""
    return {"kind": _NAMES[type(behaviour)], **asdict(behaviour)}


__all__ = ["Answer", "Status", "Hang", "CutStream", "Garbage", "SlowStream", "Redirect", "Behaviour",
           "behaviour_from_dict", "behaviour_to_dict"]
