"""How to reach a provider: the settings of one ``providers:`` entry, its timeouts and URL rules.

These are data types the config loader (``tierflow.config``) builds and the providers
(``tierflow.providers``) consume; they live here, below both, so that the config does not import
the provider adapters (the README's layout section shows the dependency graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (no userinfo, path or query); "" when it has no host."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return ""
    if not parts.scheme or not host:
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def safe_url(url: str) -> str:
    """``url`` with its userinfo, query and fragment dropped (for messages)."""
    origin = url_origin(url)
    if not origin:
        return "(an invalid URL)"
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    return origin + path


__all__ = ["ProviderKind", "ProviderSettings", "TimeoutSettings", "Timeouts", "base_url_problem", "safe_url",
           "url_origin"]
