"""The gateway's settings: the ``gateway:`` section of the project config (docs/gateway.md).

The library's config loader owns and validates the section (:mod:`tierflow._config_gateway`),
so a config error anywhere in the file, the section included, is listed with its ``file:line``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tierflow._config_gateway import GatewaySettings, PriceEstimate
from tierflow.config import ProjectConfig, load_config


def load_gateway_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None
                        ) -> tuple[ProjectConfig, GatewaySettings]:
    """The project config and its gateway settings; None: ``$TIERFLOW_CONFIG`` or the embedded default.

    Raises :class:`~tierflow.errors.ConfigError` listing every problem.
    """
    config = load_config(path, env=env)
    return config, config.gateway


__all__ = ["GatewaySettings", "PriceEstimate", "load_gateway_config"]
