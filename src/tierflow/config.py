"""The project config: providers, the role registry, reliability settings and prices, from YAML.

One file declares everything a project calls::

    providers:                # name -> ProviderSettings (kind, base_url, api_key, timeouts, ...)
      openai: {kind: openai, base_url: https://api.openai.com/v1, api_key: ${OPENAI_API_KEY}}
      local:  {kind: local}
    models:                   # the role registry; the first entry is the implicit primary
      - {role: primary, ref: openai, model: gpt-4o, fallback: [{ref: local, model: qwen2.5-coder-1.5b-instruct}]}
      - {role: fast, ref: local, model: smollm2-135m-instruct, temperature: 0.2}
      - {role: auto, router: routers/auto.json, candidates: [fast, primary]}   # a routed role
      - {role: chat, split: [{role: primary, weight: 0.9}, {role: fast, weight: 0.1}]}  # a traffic split
    reliability: {max_retries: 2, backoff_initial_s: 0.5, backoff_max_s: 8, jitter: 0.25,
                  retry_after_max_s: 60, deadline_s: null, cooldown: {failures: 3, seconds: 30}}
    prices: {"openai/gpt-4o": {input_per_mtok: 2.5, output_per_mtok: 10, cached_input_per_mtok: 1.25},
             "anthropic/claude-x": {input_per_mtok: 3, output_per_mtok: 15, cache_write_per_mtok: 3.75}}
    strict_cost: false
    allow_code: [mypkg.steps]  # modules whose functions flow files may run (README, Security)

Rules:

- The file is read with :mod:`tierflow._yaml` (safe types; an alias bomb is refused).
- ``${VAR}`` (or ``${VAR:-default}``) in any string is replaced by the environment variable after
  parsing, so a value can never inject YAML. A missing variable is an error naming the variable and
  the file, never a value; no problem ever quotes a value that came from the environment. API keys
  and ``headers:`` values are held as ``SecretStr``.
- Unknown keys, wrong types and out-of-range values are rejected with ``file:line: field.path``;
  every problem is collected and reported at once (:class:`~tierflow.errors.ConfigError`).
- The ``resources.yaml`` form (README, Roles and config: ``llm:fast: {_class: OpenAIConfig, model, api_key,
  base_url}``; also ``AzureConfig``, ``GeminiConfig``, ``AnthropicConfig``) is accepted: each
  ``llm:<name>`` becomes role ``<name>`` and identical connection settings share one provider.
- A registry ``ref`` must name a declared provider, or one of the well-known names ``openai``,
  ``anthropic``, ``gemini``, ``local``, which are created with defaults (key from
  ``$OPENAI_API_KEY`` / ``$ANTHROPIC_API_KEY`` / ``$GEMINI_API_KEY``, read when first used).
- No file given: ``$TIERFLOW_CONFIG``, else the packaged ``default_config.yaml`` (local ladder).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow._config_gateway import GatewaySettings
from tierflow._config_resources import _from_resources, is_resources_form
from tierflow._config_yaml import _Ctx, _interpolate, _parse_yaml
from tierflow.errors import ConfigError, MissingEnvVarError, Problem
from tierflow.provider_settings import ProviderSettings
from tierflow.registry import ROLE_PATTERN, Registry, Target, parse_registry

_ROLE_RE = re.compile(ROLE_PATTERN)
WELL_KNOWN_PROVIDERS: dict[str, dict[str, Any]] = {
    "openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"},
    "anthropic": {"kind": "anthropic", "base_url": "https://api.anthropic.com", "api_key_env": "ANTHROPIC_API_KEY"},
    "gemini": {"kind": "gemini", "base_url": "https://generativelanguage.googleapis.com",
               "api_key_env": "GEMINI_API_KEY"},
    "local": {"kind": "local"},
}
"""Provider names usable in ``ref`` / ``provider/model`` without declaring them."""
_TOP_KEYS = ("providers", "models", "reliability", "prices", "strict_cost", "role_requirements", "allow_code",
             "gateway", "tracing")
"""``role_requirements`` is read by :mod:`tierflow.catalog` (``tierflow models pick``); ``gateway`` by
``tierflow serve`` (:mod:`tierflow._config_gateway`); ``tracing`` by the client (docs/tracing.md)."""


class TracingSettings(BaseModel):
    """The config's ``tracing:`` section: tracers every client of this config gets (docs/tracing.md).

    ``ledger``: a SQLite ledger file (``true``: ``$TIERFLOW_HOME/gateway.sqlite``) recording every
    call; ``ledger_content``: also store messages and answers there. ``otel``: export OpenTelemetry
    spans (to ``otel_endpoint``, else the ``OTEL_EXPORTER_OTLP_*`` variables); ``capture_content``:
    put message content on those spans.
    """

    model_config = ConfigDict(extra="forbid")

    ledger: str | bool = False
    ledger_content: bool = False
    otel: bool = False
    otel_endpoint: str | None = None
    capture_content: bool = False


class CooldownSettings(BaseModel):
    """Circuit breaker: ``failures`` consecutive failures open it for ``seconds``."""

    model_config = ConfigDict(extra="forbid")
    failures: int = Field(default=3, ge=1)
    seconds: float = Field(default=30.0, ge=0)


class ReliabilitySettings(BaseModel):
    """Retry, backoff, deadline and cooldown settings (defaults from the OpenAI SDK)."""

    model_config = ConfigDict(extra="forbid")
    max_retries: int = Field(default=2, ge=0)
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    jitter: float = Field(default=0.25, ge=0, le=1)
    retry_after_max_s: float = Field(default=60.0, ge=0)
    """A ``Retry-After`` longer than this is not waited for: the call falls back instead."""
    deadline_s: float | None = Field(default=None, gt=0)
    cooldown: CooldownSettings = Field(default_factory=CooldownSettings)


class PriceSettings(BaseModel):
    """A price override in USD per million tokens. Unset rates bill as: cached input and cache
    writes as input, 1-hour cache writes as cache writes, reasoning as output."""

    model_config = ConfigDict(extra="forbid")
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    reasoning_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_per_mtok: float | None = Field(default=None, ge=0)
    cache_write_1h_per_mtok: float | None = Field(default=None, ge=0)


@dataclass(slots=True)
class ProjectConfig:
    """A loaded, validated project config."""

    providers: dict[str, ProviderSettings]
    registry: Registry
    routed_roles: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Role -> the raw routed entry (``router:``, ``candidates:``...), see the README's Learned routing section."""
    reliability: ReliabilitySettings = field(default_factory=ReliabilitySettings)
    prices: dict[str, PriceSettings] = field(default_factory=dict)
    strict_cost: bool = False
    allow_code: tuple[str, ...] = ()
    """Modules (and their submodules) whose functions flow files may run (README, Security)."""
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    """The ``gateway:`` section (``tierflow serve``; docs/gateway.md)."""
    tracing: TracingSettings = field(default_factory=TracingSettings)
    """Tracers every client of this config gets (docs/tracing.md)."""
    source: str = "<default>"
    env: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)
    """Where environment references and well-known providers' keys are read (never shown)."""

    def provider_settings(self, name: str) -> ProviderSettings:
        """Settings of provider ``name``: declared, or a well-known default (key read from env)."""
        if name in self.providers:
            return self.providers[name]
        known = WELL_KNOWN_PROVIDERS.get(name)
        if known is None:
            raise ConfigError([Problem(f"provider {name!r}", f"is not declared under providers: "
                                       f"(declared: {sorted(self.providers)}; well-known: "
                                       f"{sorted(WELL_KNOWN_PROVIDERS)})")], source=self.source)
        data = {k: v for k, v in known.items() if k != "api_key_env"}
        env = known.get("api_key_env")
        if env:
            if env not in self.env:
                raise MissingEnvVarError([Problem(f"provider {name!r}", f"environment variable {env} "
                                                  "is not set (it holds the API key)")], source=self.source)
            data["api_key"] = self.env[env]
        settings = ProviderSettings.model_validate(data)
        self.providers[name] = settings
        return settings

    def has_provider(self, name: str) -> bool:
        return name in self.providers or name in WELL_KNOWN_PROVIDERS

    def provider_problems(self) -> list[Problem]:
        """``tierflow config check``'s provider checks: every target's provider is usable (declared or
        well-known, its key set), one problem per unusable target (the console runs the same checks)."""
        problems: list[Problem] = []
        for entry in self.registry:
            for target in entry.chain:
                try:
                    self.provider_settings(target.ref)
                except ConfigError as exc:
                    problems.extend(Problem(f"role {entry.role!r}: {p.where}", p.message) for p in exc.problems)
        return problems

    @property
    def roles(self) -> list[str]:
        return [*self.registry.roles, *self.routed_roles]


# --- loading ------------------------------------------------------------------------------------


def _validate(data: Any, ctx: _Ctx, resources_form: bool) -> ProjectConfig | None:
    if not isinstance(data, Mapping):
        ctx.add((), f"expected a mapping with keys {list(_TOP_KEYS)}, got {type(data).__name__}")
        return None
    for key in data:
        if key not in _TOP_KEYS:
            ctx.add((key,), f"unknown key (expected one of: {', '.join(_TOP_KEYS)})")

    providers: dict[str, ProviderSettings] = {}
    raw_providers = data.get("providers") or {}
    if not isinstance(raw_providers, Mapping):
        ctx.add(("providers",), "expected a mapping of provider name -> settings")
        raw_providers = {}
    for name, spec in raw_providers.items():
        try:
            providers[str(name)] = ProviderSettings.model_validate(spec if spec is not None else {})
        except ValidationError as exc:
            ctx.add_validation(("providers", name), exc)

    reliability = ReliabilitySettings()
    try:
        reliability = ReliabilitySettings.model_validate(data.get("reliability") or {})
    except ValidationError as exc:
        ctx.add_validation(("reliability",), exc)

    prices: dict[str, PriceSettings] = {}
    raw_prices = data.get("prices") or {}
    if not isinstance(raw_prices, Mapping):
        ctx.add(("prices",), "expected a mapping of 'provider/model' -> prices")
        raw_prices = {}
    for key, spec in raw_prices.items():
        try:
            prices[str(key)] = PriceSettings.model_validate(spec)
        except ValidationError as exc:
            ctx.add_validation(("prices", key), exc)

    strict_cost = data.get("strict_cost", False)
    if not isinstance(strict_cost, bool):
        ctx.add(("strict_cost",), f"expected true or false, got {strict_cost!r}")
        strict_cost = False

    allow_code = _validate_allow_code(data.get("allow_code"), ctx)
    tracing = TracingSettings()
    try:
        tracing = TracingSettings.model_validate(data.get("tracing") or {})
    except ValidationError as exc:
        ctx.add_validation(("tracing",), exc)
    declared = {str(name) for name in raw_providers}  # an invalid provider is reported once, not as undeclared
    gateway = _validate_gateway(data.get("gateway"), ctx, declared)
    registry, routed = _validate_models(data.get("models"), ctx, declared)
    if ctx.problems or registry is None:
        return None
    return ProjectConfig(providers=providers, registry=registry, routed_roles=routed,
                         reliability=reliability, prices=prices, strict_cost=strict_cost,
                         allow_code=allow_code, gateway=gateway, tracing=tracing, source=ctx.source, env=ctx.env)


def _validate_gateway(raw: Any, ctx: _Ctx, providers: set[str]) -> GatewaySettings:
    """The ``gateway:`` section; ``passthrough`` may only name declared or well-known providers."""
    if raw is None:
        return GatewaySettings()
    if not isinstance(raw, Mapping):
        ctx.add(("gateway",), f"expected a mapping of gateway settings, got {type(raw).__name__}")
        return GatewaySettings()
    try:
        settings = GatewaySettings.model_validate(dict(raw))
    except ValidationError as exc:
        ctx.add_validation(("gateway",), exc)
        return GatewaySettings()
    if isinstance(settings.passthrough, list):
        for name in settings.passthrough:
            if name not in providers and name not in WELL_KNOWN_PROVIDERS:
                ctx.add(("gateway", "passthrough"), f"provider {name!r} is not declared under providers: "
                                                    f"(declared: {sorted(providers)})")
    return settings


_MODULE_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _validate_allow_code(raw: Any, ctx: _Ctx) -> tuple[str, ...]:
    """``allow_code``: a list of importable module names (``mypkg.steps``); none by default."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.add(("allow_code",), f"expected a list of module names (e.g. [mypkg.steps]), got {type(raw).__name__}")
        return ()
    for i, name in enumerate(raw):
        if not isinstance(name, str) or not _MODULE_RE.match(name):
            ctx.add(("allow_code", i), f"{name!r} is not a module name; expected a dotted import path "
                                       "such as mypkg.steps")
    return tuple(n for n in raw if isinstance(n, str) and _MODULE_RE.match(n))


def _validate_models(raw: Any, ctx: _Ctx, providers: set[str]
                     ) -> tuple[Registry | None, dict[str, dict[str, Any]]]:
    if raw is None:
        ctx.add(("models",), "is required: a list of roles (the first is the implicit primary)")
        return None, {}
    if not isinstance(raw, list):
        ctx.add(("models",), f"expected a list of model entries, got {type(raw).__name__}")
        return None, {}
    plain: list[Any] = []
    index_of: list[int] = []
    routed: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(raw):
        if isinstance(entry, Mapping) and "router" in entry:
            role = entry.get("role")
            if i == 0:
                ctx.add(("models", 0), "the first entry is the implicit primary and must name a model "
                                       "(ref + model), not a router")
            if not isinstance(role, str) or not _ROLE_RE.match(role):
                ctx.add(("models", i, "role"), f"{role!r} must match {ROLE_PATTERN}")
            elif role in routed:
                ctx.add(("models", i, "role"), f"duplicate role {role!r}; roles must be unique")
            else:
                routed[role] = dict(entry)
            continue
        plain.append(entry)
        index_of.append(i)
    registry: Registry | None = None
    try:
        registry = parse_registry(plain)
    except ConfigError as exc:
        for p in exc.problems:
            ctx.problems.append(_relocate(p, index_of, ctx))
        return None, routed
    for role in routed:
        if role in registry.roles:
            ctx.add(("models",), f"duplicate role {role!r}: declared both as a model and as a router")
    file_index = {raw.get("role"): i for i, raw in zip(index_of, plain) if isinstance(raw, Mapping)}
    for entry in registry.entries:  # splits (also in ``plain``) name no provider
        i = file_index[entry.role]
        for j, target in enumerate(entry.chain):
            path: tuple[Any, ...] = ("models", i, "ref") if j == 0 else ("models", i, "fallback", j - 1, "ref")
            if ctx.resource_keys:
                path = (ctx.resource_keys[i],)
            if target.ref not in providers and target.ref not in WELL_KNOWN_PROVIDERS:
                ctx.add(path, f"provider {target.ref!r} is not declared under providers: "
                              f"(declared: {sorted(providers)})")
    return registry, routed


_MODELS_IDX = re.compile(r"^models\[(\d+)\]")


def _relocate(p: Problem, index_of: list[int], ctx: _Ctx) -> Problem:
    """Registry problems index the non-routed entries; point them at the file's entries and lines."""
    m = _MODELS_IDX.match(p.where)
    if not m:
        return Problem(ctx.where(("models",)), p.message)
    real = index_of[int(m.group(1))]
    rest = p.where[m.end():]
    if ctx.resource_keys:
        key = ctx.resource_keys[real]
        field_part = rest.split(".", 1)[1] if "." in rest else ""
        return Problem(ctx.where((key, field_part) if field_part else (key,)), p.message)
    where = f"models[{real}]{rest}"
    line = ctx.lines.get(("models", real))
    return Problem(f"{ctx.source}:{line}: {where}" if line else f"{ctx.source}: {where}", p.message)


def parse_config(text: str, *, source: str = "<string>", env: Mapping[str, str] | None = None) -> ProjectConfig:
    """Parse and validate config text; raise :class:`ConfigError` listing every problem.

    ``${VAR}`` references and well-known providers' keys are read from ``env`` (default
    ``os.environ``): a server or a test can load a config against an environment of its own.
    """
    data, lines, yaml_problems = _parse_yaml(text, source)
    ctx = _Ctx(source, lines, env)
    ctx.problems.extend(yaml_problems)
    if data is None:
        ctx.add((), "the file is empty; expected `providers:` and `models:`")
        raise ConfigError(ctx.problems, source=source)
    missing: list[str] = []
    data = _interpolate(data, (), ctx, missing)
    resources_form = is_resources_form(data)
    if resources_form:
        data = _from_resources(data, ctx)
    config = _validate(data, ctx, resources_form)
    if ctx.problems or config is None:
        only_env = missing and len(ctx.problems) == len(missing)
        raise (MissingEnvVarError if only_env else ConfigError)(ctx.scrubbed(), source=source)
    return config


def default_config_text() -> str:
    return resources.files("tierflow").joinpath("default_config.yaml").read_text(encoding="utf-8")


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> ProjectConfig:
    """Load ``path``; None means ``$TIERFLOW_CONFIG`` or else the packaged local-ladder default
    (variables read from ``env``, default ``os.environ``)."""
    if path is None:
        path = (os.environ if env is None else env).get("TIERFLOW_CONFIG") or None
    if path is None:
        return parse_config(default_config_text(), source="<default config>", env=env)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(p), "file not found")], source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(p), f"cannot read the file ({type(exc).__name__})")],
                          source=str(p)) from None
    return config_from_text(text, p, env=env)


def config_from_text(text: str, path: str | Path, *, source: str | None = None,
                     env: Mapping[str, str] | None = None) -> ProjectConfig:
    """The config ``text`` as if it were the file at ``path`` (relative paths, such as
    ``gateway.database``, from its folder; ``config.source`` is ``path``): what the console checks
    before it writes. Problems are named after ``source`` (default: ``path``)."""
    p = Path(path)
    config = parse_config(text, source=source or str(p), env=env)
    config.source = str(p)
    database = config.gateway.database
    if database and not os.path.isabs(database):
        config.gateway.database = str(p.parent / database)
    return config


def parse_target(spec: str, config: ProjectConfig) -> Target | None:
    """``"provider/model"`` -> Target when ``provider`` is known to ``config``; else None."""
    ref, sep, model = spec.partition("/")
    if sep and ref and model and config.has_provider(ref):
        return Target(ref=ref, model=model)
    return None


__all__ = ["ProjectConfig", "ReliabilitySettings", "CooldownSettings", "PriceSettings",
           "WELL_KNOWN_PROVIDERS", "config_from_text", "load_config", "parse_config", "default_config_text",
           "is_resources_form", "parse_target"]
