"""The provider contract: one small adapter per wire protocol, behind one interface.

A provider turns a :class:`~tierflow.types.ChatRequest` for one model into a
:class:`~tierflow.types.ChatResponse` (or a stream of :class:`~tierflow.types.StreamChunk`),
and turns every failure into a :class:`~tierflow.errors.ProviderError` subclass so the call
layer can decide to retry, fall back or give up. A provider makes exactly one attempt: retries,
fallbacks, cooldowns and deadlines belong to the call layer (``tierflow.calls``).

Adding a provider touches no other module: subclass :class:`Provider`, set ``kind``, and
decorate it with :func:`register_provider`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tierflow.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk

ProviderKind = Literal["openai", "azure", "anthropic", "gemini", "local"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt limits in seconds. ``stream_idle`` bounds the gap between two stream chunks."""

    connect: float = 5.0
    total: float = 600.0
    stream_idle: float = 60.0


class TimeoutSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connect: float = Field(default=5.0, gt=0)
    total: float = Field(default=600.0, gt=0)
    stream_idle: float = Field(default=60.0, gt=0)

    def to_timeouts(self) -> Timeouts:
        return Timeouts(self.connect, self.total, self.stream_idle)


def base_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a provider's ``base_url`` (never quoting it), or None.

    Only ``http://`` and ``https://`` URLs with a host; no ``user:password@`` (the key belongs in
    ``api_key``), no ``?query`` and no ``#fragment`` (they would end up in the middle of request
    URLs, and a query often holds a key).
    """
    if not url.strip():
        return "is empty: leave base_url out to use the provider's default address, or give an http(s) URL"
    if url != url.strip() or any(c.isspace() for c in url):
        return "contains whitespace"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "is not a valid URL (check the host and port)"
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme if parts.scheme.isalnum() else ""
        return (f"must be an http:// or https:// URL, not {scheme}:" if scheme
                else "must be an http:// or https:// URL (e.g. https://api.openai.com/v1)")
    if "@" in parts.netloc:
        return ("must not carry credentials (user:password@host): put the key in api_key, or a header "
                "under headers:")
    if not parts.hostname:
        return "has no host (e.g. https://api.openai.com/v1)"
    if parts.query or url.endswith("?"):
        return "must not carry a query (?...): put a key in api_key or headers:, and azure's version in api_version"
    if parts.fragment or "#" in url:
        return "must not have a #fragment"
    return None


class ProviderSettings(BaseModel):
    """How to reach one provider (one entry of the config's ``providers:`` mapping).

    ``api_key`` and every value under ``headers`` are secrets: masked in ``repr``, in
    ``model_dump_json()`` and in every error message; validation errors never quote an input.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: ProviderKind
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    """Azure OpenAI's ``api-version`` query parameter; Anthropic's ``anthropic-version`` header."""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    """Extra request headers; their values are treated as secrets (a gateway key often sits here)."""
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    max_connections: int = Field(default=100, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)
    """Kind-specific options (e.g. the local provider's model files, ``n_ctx``, ``n_threads``)."""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            problem = base_url_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> ProviderSettings:
        if self.kind == "azure" and self.base_url is None:
            raise ValueError("kind 'azure' needs base_url: the resource endpoint, e.g. https://NAME.openai.azure.com")
        return self


class Provider(ABC):
    """One configured provider. Instances are long-lived and shared by concurrent calls."""

    kind: ClassVar[str]
    enforces_timeouts: ClassVar[bool] = False
    """True when :meth:`complete` itself enforces ``timeouts.total`` (raising ``APITimeoutError``),
    so the call layer need not arm a timer of its own around it."""

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.settings = settings

    @abstractmethod
    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        """One attempt, whole answer. Raises a ``ProviderError`` subclass on failure."""

    @abstractmethod
    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        """One attempt, streamed. Cancelling the iteration cancels the upstream request."""

    async def embed(self, model: str, inputs: list[str], *, timeouts: Timeouts) -> EmbeddingResponse:
        """One embedding attempt: a vector per input, in order. Providers without embeddings refuse it."""
        from tierflow.errors import BadRequestError

        raise BadRequestError(f"providers of kind {self.kind!r} make no embeddings here; use an OpenAI-compatible, "
                              "Gemini or local provider", target=f"{self.name}/{model}", status_code=400)

    async def aclose(self) -> None:  # noqa: B027 (a provider with nothing to release keeps this)
        """Release connections / models. Safe to call twice."""


_KINDS: dict[str, type[Provider]] = {}


def register_provider(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make ``cls`` the implementation of ``cls.kind``."""
    _KINDS[cls.kind] = cls
    return cls


def provider_class(kind: str) -> type[Provider]:
    if kind not in _KINDS:
        _import_builtin(kind)
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}; known: {sorted(_BUILTIN)}") from None


_BUILTIN: dict[str, str] = {
    "openai": "tierflow.providers.openai_compat",
    "azure": "tierflow.providers.openai_compat",
    "anthropic": "tierflow.providers.anthropic",
    "gemini": "tierflow.providers.gemini",
    "local": "tierflow.providers.local",
}


def _import_builtin(kind: str) -> None:
    import importlib

    module = _BUILTIN.get(kind)
    if module:
        importlib.import_module(module)


def create_provider(name: str, settings: ProviderSettings) -> Provider:
    return provider_class(settings.kind)(name, settings)


ProviderFactory = Callable[[str, ProviderSettings], Provider]

__all__ = ["ProviderKind", "Timeouts", "TimeoutSettings", "ProviderSettings", "Provider", "base_url_problem",
           "register_provider", "provider_class", "create_provider"]
