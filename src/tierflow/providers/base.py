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
from typing import ClassVar

from tierflow.provider_settings import (
    ProviderKind,
    ProviderSettings,
    Timeouts,
    TimeoutSettings,
    base_url_problem,
)
from tierflow.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk


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
