"""Writing a pick into the config's registry: validated, atomic, the rest of the file kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tierflow._yaml import MAX_EXPANDED_NODES
from tierflow.catalog.roles import write_role
from tierflow.errors import ConfigError
from tierflow.registry import parse_registry

CONFIG = """\
# project config
providers:
  openai: {kind: openai, base_url: https://api.openai.com/v1, api_key: "${OPENAI_API_KEY}"}
models:
  - {role: primary, ref: local, model: qwen2.5-coder-1.5b-instruct}
  - {role: orchestrator, ref: openai, model: gpt-4o, temperature: 0.3}
reliability: {max_retries: 2}
"""


def test_adds_a_role_with_a_fallback_and_keeps_the_rest(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text(CONFIG.replace("providers:\n", "providers:\n  xai: {kind: openai, base_url: 'https://api.x.ai/v1'}\n", 1))
    # the first fallback's provider is not declared: the next one is written instead
    res = write_role(cfg, "planner", "xai/grok-4.3", ["mistral/mistral-large", "openai/gpt-5"])
    doc = yaml.safe_load(cfg.read_text())
    assert doc["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"  # not expanded, not lost
    assert doc["reliability"] == {"max_retries": 2}
    reg = parse_registry(doc["models"])
    entry = reg.get("planner")
    assert (entry.ref, entry.model) == ("xai", "grok-4.3")
    assert [str(t) for t in entry.fallback] == ["openai/gpt-5"]
    assert reg.roles == ["primary", "orchestrator", "planner"]
    assert not res.replaced and res.notes == []


def test_a_model_whose_provider_the_config_cannot_call_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text(CONFIG)
    before = cfg.read_bytes()
    with pytest.raises(ConfigError, match="provider 'xai' of 'xai/grok-4.3' is not declared"):
        write_role(cfg, "planner", "xai/grok-4.3", "openai/gpt-5")
    assert cfg.read_bytes() == before
    res = write_role(cfg, "planner", "openai/gpt-5", ["mistral/mistral-large"])  # no callable fallback
    assert "fallback" not in res.entry
    assert any("no fallback written" in n and "mistral/mistral-large" in n for n in res.notes)


def test_google_slugs_use_the_gemini_provider_unless_google_is_declared(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    res = write_role(cfg, "fast", "google/gemini-2.5-flash", "openai/gpt-5-mini")
    assert res.entry["ref"] == "gemini" and res.notes == []  # both are well-known providers
    cfg.write_text("providers:\n  google: {kind: gemini}\nmodels: []\n")
    assert write_role(cfg, "fast", "google/gemini-2.5-flash").entry["ref"] == "google"


def test_replacing_a_role_keeps_its_own_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text(CONFIG)
    res = write_role(cfg, "orchestrator", "openai/gpt-5")
    entry = parse_registry(yaml.safe_load(cfg.read_text())["models"]).get("orchestrator")
    assert (entry.model, entry.temperature, entry.fallback) == ("gpt-5", 0.3, [])
    assert res.replaced


def test_new_config_file_is_created(tmp_path: Path) -> None:
    cfg = tmp_path / "new.yaml"
    write_role(cfg, "primary", "openai/gpt-4o-mini")
    assert yaml.safe_load(cfg.read_text()) == {"models": [{"role": "primary", "ref": "openai", "model": "gpt-4o-mini"}]}


@pytest.mark.parametrize("role,model,expected", [
    ("Bad Role", "openai/gpt-4o", "must match"),
    ("worker", "gpt-4o", "provider/model"),
])
def test_invalid_entries_leave_the_file_untouched(tmp_path: Path, role: str, model: str, expected: str) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text(CONFIG)
    with pytest.raises(ConfigError, match=expected):
        write_role(cfg, role, model)
    assert cfg.read_text() == CONFIG
    assert [p.name for p in tmp_path.iterdir()] == ["tierflow.yaml"]


def test_unwritable_or_unreadable_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        write_role(tmp_path / "missing" / "c.yaml", "x", "openai/gpt-4o")
    with pytest.raises(ConfigError, match="is a directory"):
        write_role(tmp_path, "x", "openai/gpt-4o")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot be read as YAML"):
        write_role(bad, "x", "openai/gpt-4o")
    assert bad.read_text() == "models: [unclosed\n"
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        write_role(listy, "x", "openai/gpt-4o")


def test_written_config_loads_with_the_project_config_loader(tmp_path: Path) -> None:
    from tierflow.config import load_config

    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text(CONFIG)
    write_role(cfg, "planner", "anthropic/claude-sonnet-4-5", "google/gemini-2.5-pro")
    loaded = load_config(cfg, env={"OPENAI_API_KEY": "sk-test-not-a-key"})
    planner = loaded.registry.get("planner")
    assert str(planner.target) == "anthropic/claude-sonnet-4-5"
    assert [str(t) for t in planner.fallback] == ["gemini/gemini-2.5-pro"]


def test_comments_layout_and_other_entries_are_kept_byte_for_byte(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    text = CONFIG.replace("  - {role: orchestrator", "  # the planner of every flow\n  - {role: orchestrator") \
                 .replace("reliability:", "# retries\nreliability:").replace("max_retries: 2}", "max_retries: 2}  # two")
    cfg.write_text(text)
    res = write_role(cfg, "planner", "openai/gpt-5")
    assert cfg.read_text() == text.replace("# retries\n", "  - {role: planner, ref: openai, model: gpt-5}\n# retries\n")
    assert res.notes == []


def test_a_comment_ruamel_cannot_keep_is_named_not_dropped_silently(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    text = CONFIG.replace("  - {role: orchestrator", "  # the planner of every flow\n  - {role: orchestrator") \
                 .replace("temperature: 0.3}", "temperature: 0.3}  # keep it cool")
    cfg.write_text(text)
    res = write_role(cfg, "planner", "openai/gpt-5")
    after = cfg.read_text()
    assert "# keep it cool" in after and "# project config" in after
    if "# the planner of every flow" not in after:  # ruamel.yaml 0.18/0.19 loses this one
        assert any("# the planner of every flow" in n and "add them back" in n for n in res.notes)


def test_replacing_a_block_entry_keeps_its_comments_and_indentation(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text("models:\n"
                   "    # the cheap one\n"
                   "    -   role: fast   # used by classify\n"
                   "        ref: local\n"
                   "        model: smollm2-135m-instruct\n"
                   "        temperature: 0.1\n"
                   "settings:\n"
                   "    debug: true  # remove later\n")
    res = write_role(cfg, "fast", "openai/gpt-5-mini")
    assert res.replaced and res.previous == {"ref": "local", "model": "smollm2-135m-instruct"}
    assert cfg.read_text() == ("models:\n"
                               "    # the cheap one\n"
                               "    -   role: fast   # used by classify\n"
                               "        ref: openai\n"
                               "        model: gpt-5-mini\n"
                               "        temperature: 0.1\n"
                               "settings:\n"
                               "    debug: true  # remove later\n")


def test_a_custom_pair_the_catalog_lacks_is_written_as_given(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    cfg.write_text("providers:\n  scaiinfer: {kind: openai, base_url: 'http://127.0.0.1:9/v1'}\nmodels: []\n")
    res = write_role(cfg, "legacy", "poolnoodle/babynoodle", ref="scaiinfer")
    assert res.entry == {"role": "legacy", "ref": "scaiinfer", "model": "poolnoodle/babynoodle"}
    entry = parse_registry(yaml.safe_load(cfg.read_text())["models"]).get("legacy")
    assert (entry.ref, entry.model) == ("scaiinfer", "poolnoodle/babynoodle")
    with pytest.raises(ConfigError, match="provider 'nowhere' of 'nowhere/x' is not declared"):
        write_role(cfg, "other", "x", ref="nowhere")


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    cfg = tmp_path / "tierflow.yaml"
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    bomb = "\n".join(levels) + "\nmodels: []\n"
    cfg.write_text(bomb)
    with pytest.raises(ConfigError, match=f"more than {MAX_EXPANDED_NODES:,} nodes"):
        write_role(cfg, "fast", "openai/gpt-5-mini")
    assert cfg.read_text() == bomb
