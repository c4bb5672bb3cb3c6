"""The gateway's settings: the ``gateway:`` section of the project config (docs/gateway.md).

::

    gateway:
      passthrough: false          # true, or a list of provider names: allow model="provider/model"
      database: gateway.sqlite    # ledger, keys and spend (default $TIERFLOW_HOME/gateway.sqlite)
      store_content: false        # keep messages and answers in the ledger
      commit_interval_s: 0.2      # ledger rows are committed in groups: a crash loses at most this
      max_body_bytes: 4194304     # larger request bodies get 413
      max_messages: 1024          # longer message lists get 400
      budget_max_tokens: 4096     # max_tokens for requests of keys with a dollar budget that set none
      unknown_price_per_mtok: {input: 15, output: 75}   # budgets' estimate for models with no known price

The library's config loader does not know this section yet, so :func:`load_gateway_config` takes
it out of the text (blanking its lines, so every other problem keeps its line number) before
handing the rest to :func:`tierflow.config.parse_config`, and validates it here with the same
``file:line: field`` locations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierflow._yaml import compose_yaml, load_yaml
from tierflow.config import ProjectConfig, default_config_text, parse_config
from tierflow.errors import ConfigError, Problem

SECTION = "gateway"


class PriceEstimate(BaseModel):
    """USD per million tokens assumed for a model with no known price (for budgets only)."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(default=15.0, ge=0)
    output: float = Field(default=75.0, ge=0)


class GatewaySettings(BaseModel):
    """What ``tierflow serve`` reads from the config's ``gateway:`` section."""

    model_config = ConfigDict(extra="forbid")

    passthrough: bool | list[str] = False
    """Allow ``model: "provider/model"``: ``true`` for every provider the config knows, or a list
    of provider names. Off by default: clients may only name roles."""
    database: str | None = None
    """SQLite file of the ledger, keys and spend; relative paths are relative to the config file."""
    store_content: bool = False
    commit_interval_s: float = Field(default=0.2, gt=0, le=60)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(default=1024, ge=1)
    budget_max_tokens: int = Field(default=4096, ge=1)
    """``max_tokens`` given to requests of keys with a dollar budget that set none (the reservation's bound)."""
    unknown_price_per_mtok: PriceEstimate = Field(default_factory=PriceEstimate)

    def allows_passthrough(self, provider: str) -> bool:
        return self.passthrough is True or (isinstance(self.passthrough, list) and provider in self.passthrough)


def _split_section(text: str, source: str) -> tuple[str, Any, dict[str, int]]:
    """``text`` with the ``gateway:`` section's lines blanked, the section's raw value, and the line of
    the section (key ``""``) and of each of its keys."""
    try:
        root = compose_yaml(text)
        data = load_yaml(text)
    except yaml.YAMLError:
        return text, None, {}  # parse_config reports the YAML error with its location
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, Mapping) or SECTION not in data:
        return text, None, {}
    keys = [k for k, _ in root.value]
    index = next(i for i, k in enumerate(keys) if getattr(k, "value", None) == SECTION)
    first = keys[index].start_mark.line
    value = root.value[index][1]
    lines_of = {"": first + 1}
    if isinstance(value, yaml.MappingNode):
        lines_of.update({str(k.value): k.start_mark.line + 1 for k, _ in value.value})
    if root.flow_style:
        raise ConfigError([Problem(f"{source}:{first + 1}: {SECTION}", "write the config as a block "
                                   "mapping (one top-level key per line) to use the gateway section")],
                          source=source)
    end = keys[index + 1].start_mark.line if index + 1 < len(keys) else len(text.splitlines())
    lines = text.splitlines(keepends=True)
    for i in range(first, min(end, len(lines))):
        lines[i] = "\n"
    return "".join(lines), data[SECTION], lines_of


def _settings(raw: Any, source: str, lines_of: dict[str, int], base_dir: Path | None) -> GatewaySettings:
    def where(key: str = "") -> str:
        line = lines_of.get(key) or lines_of.get("")
        return f"{source}:{line}" if line else source

    if raw is None:
        return GatewaySettings()
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem(f"{where()}: {SECTION}", f"expected a mapping, got {type(raw).__name__}")],
                          source=source)
    try:
        settings = GatewaySettings.model_validate(dict(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            what = "unknown key (expected one of: " + ", ".join(GatewaySettings.model_fields) + ")" \
                if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(Problem(f"{where(str(err['loc'][0]))}: {SECTION}.{field}", what))
        raise ConfigError(problems, source=source) from None
    if settings.database and base_dir is not None and not os.path.isabs(settings.database):
        settings.database = str(base_dir / settings.database)
    return settings


def load_gateway_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None
                        ) -> tuple[ProjectConfig, GatewaySettings]:
    """The project config and its gateway settings; None: ``$TIERFLOW_CONFIG`` or the embedded default.

    Raises :class:`~tierflow.errors.ConfigError` listing every problem.
    """
    environ = os.environ if env is None else env
    if path is None:
        path = environ.get("TIERFLOW_CONFIG") or None
    if path is None:
        return parse_config(default_config_text(), source="<default config>", env=env), GatewaySettings()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(p), "file not found")], source=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(p), f"cannot read the file ({type(exc).__name__})")], source=str(p)) from None
    rest, raw, lines_of = _split_section(text, str(p))
    problems: list[Problem] = []
    config: ProjectConfig | None = None
    settings: GatewaySettings | None = None
    try:
        config = parse_config(rest, source=str(p), env=env)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        settings = _settings(raw, str(p), lines_of, p.parent)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if config is not None and settings is not None and isinstance(settings.passthrough, list):
        where = f"{p}:{lines_of.get('passthrough')}: {SECTION}.passthrough"
        problems += [Problem(where, f"provider {name!r} is not declared under providers: (declared: "
                                    f"{sorted(config.providers)})")
                     for name in settings.passthrough if not config.has_provider(name)]
    if problems or config is None or settings is None:
        raise ConfigError(problems, source=str(p))
    return config, settings


__all__ = ["GatewaySettings", "PriceEstimate", "load_gateway_config"]
