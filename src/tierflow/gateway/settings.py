"""The gateway's settings: the ``gateway:`` section of the project config (docs/gateway.md).

The library's config loader owns and validates the section (:mod:`tierflow._config_gateway`),
so a config error anywhere in the file, the section included, is listed with its ``file:line``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tierflow._config_gateway import GatewaySettings, PriceEstimate
from tierflow.config import ProjectConfig, config_from_text, load_config


def load_gateway_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
                        text: str | None = None, source: str | None = None) -> tuple[ProjectConfig, GatewaySettings]:
    """The project config and its gateway settings; None: ``$TIERFLOW_CONFIG`` or the embedded default.

    With ``text``: that text as if it were the file at ``path`` (nothing is read; problems named
    after ``source``, default the path), as the console checks an edit before writing it.
    Raises :class:`~tierflow.errors.ConfigError` listing every problem.
    """
    if text is not None:
        if path is None:
            raise ValueError("load_gateway_config: text needs the path it stands for")
        config = config_from_text(text, path, source=source, env=env)
    else:
        config = load_config(path, env=env)
    return config, config.gateway


__all__ = ["GatewaySettings", "PriceEstimate", "load_gateway_config"]
