"""The config's ``gateway:`` section: read beside the rest, every problem listed with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.errors import ConfigError
from tierflow.gateway.settings import GatewaySettings, load_gateway_config

BASE = """providers:
  t: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: k}
models:
  - {role: fast, ref: t, model: m}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tierflow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_section_is_read_and_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    path = _write(tmp_path, "gateway:\n  passthrough: [t]\n  database: data/gw.sqlite\n  max_messages: 5\n" + BASE)
    config, settings = load_gateway_config(path)
    assert config.registry.roles == ["fast"]
    assert settings.passthrough == ["t"] and settings.max_messages == 5
    assert settings.database == str(tmp_path / "data" / "gw.sqlite")
    assert settings.allows_passthrough("t") and not settings.allows_passthrough("openai")


def test_no_section_and_no_file_mean_the_defaults(tmp_path: Path) -> None:
    _, settings = load_gateway_config(_write(tmp_path, BASE))
    assert settings == GatewaySettings()
    config, settings = load_gateway_config(None, env={})
    assert config.source == "<default config>" and settings.passthrough is False


def test_problems_in_the_section_and_elsewhere_are_listed_together_with_their_lines(tmp_path: Path) -> None:
    text = BASE + "gateway:\n  passthrough: [nowhere]\n  max_mesages: 3\n  commit_interval_s: -1\n" \
        + "reliability: {max_retries: -1}\n"
    with pytest.raises(ConfigError) as err:
        load_gateway_config(_write(tmp_path, text))
    message = str(err.value)
    assert "tierflow.yaml:7: gateway.max_mesages: unknown key" in message
    assert "tierflow.yaml:8: gateway.commit_interval_s" in message
    assert "tierflow.yaml:9: reliability" in message  # the line of a problem after the section is kept
    text = BASE + "gateway:\n  passthrough: [nowhere]\n"
    with pytest.raises(ConfigError) as err:
        load_gateway_config(_write(tmp_path, text))
    assert "tierflow.yaml:6: gateway.passthrough: provider 'nowhere' is not declared" in str(err.value)


def test_a_section_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tierflow.yaml:5: gateway: expected a mapping"):
        load_gateway_config(_write(tmp_path, BASE + "gateway: [1, 2]\n"))


def test_a_flow_style_config_may_hold_the_section(tmp_path: Path) -> None:
    """The loader reads the section itself: no line-based surgery that needs a block mapping."""
    config, settings = load_gateway_config(_write(tmp_path, "{gateway: {max_messages: 7}, "
                                                  "models: [{role: a, ref: local, model: m}]}\n"))
    assert settings.max_messages == 7 and config.gateway is settings


def test_the_library_loader_reads_the_section_too(tmp_path: Path) -> None:
    """``tierflow call`` and ``tierflow serve`` read the same file: ``load_config`` accepts the section."""
    from tierflow.config import load_config

    config = load_config(_write(tmp_path, BASE + "gateway:\n  store_content: true\n"))
    assert config.gateway.store_content is True

