"""Plain data passed between the call layer and the providers.

Dataclasses with slots, not pydantic models: these are built on every call, and the call layer's
overhead budget is a fraction of a millisecond.

- :class:`ChatRequest` is what a provider adapter receives (one target, one attempt).
- :class:`ChatResponse` / :class:`StreamChunk` are what it returns.
- :class:`CallResult` is what the call layer returns to the user: the answer plus which model
  answered, usage, cost, latency, time to first token, and every attempt made on the way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Message = dict[str, Any]
"""An OpenAI-style chat message: ``{"role": "system"|"user"|"assistant", "content": str}``."""


@dataclass(slots=True)
class ChatRequest:
    """One chat completion request for one target."""

    model: str
    messages: list[Message]
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    response_format: dict[str, Any] | None = None
    """``{"type": "json_object"}`` or ``{"type": "json_schema", "json_schema": {...}}``."""
    logprobs: bool = False
    top_logprobs: int | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Provider-specific body fields, passed through untouched."""
    tools: list[dict[str, Any]] | None = None
    """OpenAI's ``tools`` (``{"type": "function", "function": {name, description, parameters}}``);
    each provider maps them (README, "Tools")."""
    tool_choice: str | dict[str, Any] | None = None
    """OpenAI's ``tool_choice``: ``auto``, ``none``, ``required`` or ``{"type": "function", "function": {"name"}}``."""


@dataclass(slots=True)
class Usage:
    """Token counts of one call.

    ``input_tokens`` counts every prompt token; ``cached_tokens`` (read from the provider's prompt
    cache) and ``cache_write_tokens`` (written to it) are parts of it, each billed at its own rate;
    ``cache_write_1h_tokens`` is the part of the writes kept for an hour (Anthropic). ``reasoning``
    is a part of ``output_tokens``. ``estimated`` is True when the provider reported no usage and
    the counts were estimated from the text (see the README's Cost section).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cached_tokens + other.cached_tokens,
                     self.reasoning_tokens + other.reasoning_tokens,
                     self.cache_write_tokens + other.cache_write_tokens,
                     self.cache_write_1h_tokens + other.cache_write_1h_tokens,
                     self.estimated or other.estimated)


@dataclass(slots=True)
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass(slots=True)
class ChatResponse:
    """A complete (non-streamed, or fully assembled) answer from one target."""

    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None
    model: str | None = None
    """The model name the provider reports, if any."""
    raw: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    """Tool calls in OpenAI's shape: ``{"id", "type": "function", "function": {"name", "arguments"}}``
    (``arguments`` a JSON string)."""


@dataclass(slots=True)
class StreamChunk:
    """One streamed delta. The last chunk of a stream may carry only ``usage``/``finish_reason``."""

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    """Tool-call deltas in OpenAI's stream shape: ``{"index", "id"?, "type"?, "function": {"name"?,
    "arguments"}}``; the pieces of one call share its ``index`` and their ``arguments`` concatenate."""


AttemptOutcome = Literal["ok", "error", "skipped_cooldown", "cancelled"]


@dataclass(slots=True)
class Attempt:
    """One try of one target: what happened and how long the call layer waited before it."""

    target: str
    outcome: AttemptOutcome
    error: str | None = None
    """The error class name (``RateLimitError``...), never a message that could hold a secret."""
    status_code: int | None = None
    wait_s: float = 0.0
    duration_s: float = 0.0


@dataclass(slots=True)
class EmbeddingResponse:
    """The vectors of one embedding request to one target, in input order."""

    vectors: list[list[float]]
    usage: Usage = field(default_factory=Usage)
    model: str | None = None


@dataclass(slots=True)
class EmbeddingResult:
    """The answer of :meth:`tierflow.Client.aembed`: one vector per input, and how it was made."""

    vectors: list[list[float]]
    model_used: str
    """``"ref/model"`` of the target that answered."""
    provider: str
    role: str | None
    usage: Usage
    cost_usd: float | None
    """None when the model's price is unknown (never silently 0)."""
    latency_s: float
    attempts: list[Attempt]
    request_id: str | None = None


@dataclass(slots=True)
class CallResult:
    """The answer of :func:`tierflow.call` and everything known about how it was produced."""

    text: str
    model_used: str
    """``"ref/model"`` of the target that answered."""
    provider: str
    role: str | None
    usage: Usage
    cost_usd: float | None
    """None when the price of the model is unknown (never silently 0)."""
    latency_s: float
    """From the call to its answer, one-time set-up (``setup_s``) excluded."""
    ttft_s: float | None
    attempts: list[Attempt]
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None
    decision: dict[str, Any] | None = None
    """For routed roles: the router's choice, predicted quality / cost and the runner-up."""
    setup_s: float = 0.0
    """One-time set-up this call paid (its plan's price look-up, creating a provider), not in ``latency_s``."""
    request_id: str | None = None
    """The caller's ``request_id=`` or a generated one; also on every call event."""
    variant: str | None = None
    """For traffic splits (``role`` is the split): the variant role that answered."""
    tool_calls: list[dict[str, Any]] | None = None
    """The tools the model called (OpenAI's shape, ``finish_reason`` ``tool_calls``); None if none."""

    @property
    def latency_ms(self) -> float:
        return self.latency_s * 1000.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["latency_ms"] = round(self.latency_s * 1000.0, 3)
        d["ttft_ms"] = None if self.ttft_s is None else round(self.ttft_s * 1000.0, 3)
        return d


__all__ = ["Message", "ChatRequest", "Usage", "TokenLogprob", "ChatResponse", "StreamChunk", "EmbeddingResponse",
           "EmbeddingResult", "Attempt", "AttemptOutcome", "CallResult"]
