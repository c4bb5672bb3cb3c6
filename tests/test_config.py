"""Project config: YAML + ${ENV}, every problem located by file/line/field, resources.yaml form."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierflow.config import config_from_text, load_config, parse_config, parse_target
from tierflow.errors import ConfigError, MissingEnvVarError

GOOD = """\
providers:
  openai: {kind: openai, base_url: https://api.openai.com/v1, api_key: "${TF_TEST_KEY}", timeouts: {connect: 2, total: 30, stream_idle: 10}}
  local: {kind: local}
models:
  - {role: primary, ref: openai, model: gpt-4o, fallback: [{ref: local, model: qwen2.5-coder-1.5b-instruct}]}
  - {role: fast, ref: local, model: smollm2-135m-instruct, temperature: 0.2}
  - {role: auto, router: routers/auto.json, candidates: [fast, primary], target: {quality: 0.95}}
reliability: {max_retries: 3, backoff_initial_s: 0.1, cooldown: {failures: 2, seconds: 5}}
prices: {"openai/gpt-4o": {input_per_mtok: 2.5, output_per_mtok: 10, cached_input_per_mtok: 1.25}}
strict_cost: true
"""


def _problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="p.yaml", env=env or {})
    return [str(p) for p in info.value.problems]


def test_full_config() -> None:
    cfg = parse_config(GOOD, source="p.yaml", env={"TF_TEST_KEY": "sk-secret-123"})
    assert cfg.registry.roles == ["primary", "fast"]
    assert list(cfg.routed_roles) == ["auto"] and cfg.routed_roles["auto"]["candidates"] == ["fast", "primary"]
    assert cfg.roles == ["primary", "fast", "auto"]
    openai = cfg.providers["openai"]
    assert openai.api_key is not None and openai.api_key.get_secret_value() == "sk-secret-123"
    assert "sk-secret-123" not in repr(cfg) and "sk-secret-123" not in str(openai)
    assert openai.timeouts.to_timeouts().connect == 2
    assert cfg.reliability.max_retries == 3 and cfg.reliability.cooldown.failures == 2
    assert cfg.reliability.backoff_max_s == 8.0  # default kept
    assert cfg.prices["openai/gpt-4o"].cached_input_per_mtok == 1.25
    assert cfg.strict_cost is True and cfg.source == "p.yaml"


def test_missing_env_var_names_variable_and_file_never_value() -> None:
    with pytest.raises(MissingEnvVarError) as info:
        parse_config(GOOD, source="p.yaml", env={"OTHER": "sk-secret-123"})
    msg = str(info.value)
    assert "TF_TEST_KEY" in msg and "p.yaml:2" in msg and "providers.openai.api_key" in msg


def test_env_default_and_no_yaml_injection() -> None:
    cfg = parse_config("models:\n  - {role: primary, ref: openai, model: '${TF_MODEL}', "
                       "system_context: '${TF_UNSET_X:-be brief}'}\n", env={"TF_MODEL": "gpt-4o\nstrict_cost: true"})
    assert cfg.registry.primary.model == "gpt-4o\nstrict_cost: true"
    assert cfg.registry.primary.system_context == "be brief"
    assert cfg.strict_cost is False


def test_invalid_yaml_reports_file_and_line() -> None:
    problems = _problems("models:\n  - {role: primary, ref: x\n  - oops: [\n")
    assert len(problems) == 1 and problems[0].startswith("p.yaml:") and "invalid YAML" in problems[0]
    line = int(problems[0].split(":")[1])
    assert 2 <= line <= 4


def test_every_problem_collected_with_line_and_path() -> None:
    text = """\
providers:
  openai: {kind: openaii, api_key: "${TF_NOPE}"}
  other: {kind: openai, colour: blue, timeouts: {connect: -1}}
models:
  - {role: primary, ref: openai, model: gpt-4o}
  - {role: Fast, ref: nowhere, model: m, temperature: 9}
reliability: {max_retries: -1, jitter: 2, retries: 3}
prices: {"openai/gpt-4o": {input_per_mtok: 1}}
strict_cost: maybe
colour: red
"""
    problems = _problems(text)
    joined = "\n".join(problems)
    expected = [
        "p.yaml:2: providers.openai.api_key: environment variable TF_NOPE is not set",
        "p.yaml:2: providers.openai.kind",
        "p.yaml:3: providers.other.colour: unknown key",
        "p.yaml:3: providers.other.timeouts.connect",
        "p.yaml:6: models[1] (role 'Fast').role",
        "p.yaml:6: models[1] (role 'Fast').temperature",
        "p.yaml:7: reliability.max_retries",
        "p.yaml:7: reliability.jitter",
        "p.yaml:7: reliability.retries: unknown key",
        "p.yaml:8: prices.openai/gpt-4o.output_per_mtok: is required",
        "p.yaml:9: strict_cost",
        "p.yaml:10: colour: unknown key",
    ]
    for e in expected:
        assert e in joined, e
    assert len(problems) == len(expected)


def test_undeclared_provider_ref_is_reported() -> None:
    problems = _problems("models:\n  - {role: primary, ref: nowhere, model: m, fallback: [{ref: gone, model: n}]}\n")
    assert any("models[0].ref: provider 'nowhere' is not declared" in p for p in problems)
    assert any("models[0].fallback[0].ref: provider 'gone'" in p for p in problems)


def test_well_known_providers_need_no_declaration() -> None:
    cfg = parse_config("models:\n  - {role: primary, ref: anthropic, model: claude-3-5-haiku-latest}\n")
    assert cfg.has_provider("anthropic") and cfg.has_provider("openai") and not cfg.has_provider("foo")
    assert parse_target("openai/gpt-4o", cfg) is not None
    assert parse_target("foo/bar", cfg) is None and parse_target("gpt-4o", cfg) is None


def test_well_known_provider_missing_key_names_variable() -> None:
    env: dict[str, str] = {}
    cfg = parse_config("models:\n  - {role: primary, ref: anthropic, model: claude}\n", env=env)
    with pytest.raises(MissingEnvVarError, match="ANTHROPIC_API_KEY"):
        cfg.provider_settings("anthropic")
    env["ANTHROPIC_API_KEY"] = "sk-ant-zzz"  # the key is read when the provider is first used
    assert "sk-ant-zzz" not in repr(cfg)
    assert cfg.provider_settings("anthropic").api_key.get_secret_value() == "sk-ant-zzz"  # type: ignore[union-attr]


def test_duplicate_yaml_key_reported() -> None:
    problems = _problems("models:\n  - {role: primary, ref: local, model: a}\nstrict_cost: false\nstrict_cost: true\n")
    assert any(p.startswith("p.yaml:4: strict_cost: duplicate key") for p in problems)


def test_routed_role_rules() -> None:
    problems = _problems("models:\n  - {role: auto, router: r.json}\n  - {role: primary, ref: local, model: a}\n"
                         "  - {role: primary, router: r.json}\n")
    joined = "\n".join(problems)
    assert "models[0]: the first entry is the implicit primary" in joined
    assert "duplicate role 'primary'" in joined


def test_registry_problem_lines_point_at_file_entries() -> None:
    problems = _problems("models:\n  - {role: primary, ref: local, model: a}\n  - {role: auto, router: r.json}\n"
                         "  - {role: x, ref: local, model: b, temperature: 7}\n")
    assert problems == [p for p in problems if p.startswith("p.yaml:4: models[2] (role 'x').temperature")]


def test_empty_and_non_mapping_files() -> None:
    assert "empty" in _problems("")[0]
    assert "expected a mapping" in _problems("- a\n- b\n")[0]
    assert "models: is required" in _problems("providers: {}\n")[0]


RESOURCES = """\
# Fast/cheap model
llm:fast:
  _class: OpenAIConfig
  api_key: ${TF_OPENAI}
  model: gpt-4o-mini
  base_url: https://api.openai.com/v1
llm:strong:
  _class: OpenAIConfig
  api_key: ${TF_OPENAI}
  model: gpt-4o
  base_url: https://api.openai.com/v1
llm:backup:
  _class: AzureConfig
  api_key: ${TF_AZURE}
  azure_endpoint: https://x.openai.azure.com
  model: gpt-4
llm:gemini:
  _class: GeminiConfig
  project_id: my-project
  model: gemini-2.0-flash-001
llm:claude:
  _class: AnthropicConfig
  api_key: ${TF_OPENAI}
  model: claude-3-5-haiku-latest
"""


def test_resources_form_maps_to_providers_and_roles() -> None:
    cfg = parse_config(RESOURCES, source="resources.yaml", env={"TF_OPENAI": "sk-o", "TF_AZURE": "az-k"})
    assert cfg.registry.roles == ["fast", "strong", "backup", "gemini", "claude"]
    assert cfg.registry.primary.role == "fast"
    assert [(e.ref, e.model) for e in cfg.registry] == [
        ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("azure", "gpt-4"), ("gemini", "gemini-2.0-flash-001"),
        ("anthropic", "claude-3-5-haiku-latest")]
    assert cfg.providers["azure"].base_url == "https://x.openai.azure.com"
    assert cfg.providers["gemini"].options == {"project_id": "my-project"}
    assert cfg.providers["openai"].api_key.get_secret_value() == "sk-o"  # type: ignore[union-attr]


def test_resources_form_distinct_connections_get_distinct_providers() -> None:
    text = ("llm:a: {_class: OpenAIConfig, model: m1, base_url: 'http://h1/v1'}\n"
            "llm:b: {_class: OpenAIConfig, model: m2, base_url: 'http://h2/v1'}\n"
            "llm:c: {_class: OpenAIConfig, model: m3, base_url: 'http://h1/v1'}\n")
    cfg = parse_config(text)
    assert [e.ref for e in cfg.registry] == ["openai", "openai_2", "openai"]


def test_resources_form_problems() -> None:
    text = ("llm:fast: {_class: OpenAIConfig, model: m, colour: red}\n"
            "llm:x: {_class: MistralConfig, model: m}\n"
            "llm:Bad: {_class: OpenAIConfig, model: m}\n"
            "llm:az: {_class: AzureConfig, api_key: '${TF_AZURE}'}\n"
            "redis:cache: {url: x}\n")
    problems = _problems(text)
    joined = "\n".join(problems)
    assert "p.yaml:1: llm:fast.colour: unknown key for OpenAIConfig" in joined
    assert "p.yaml:2: llm:x._class: 'MistralConfig' is not supported" in joined
    assert "p.yaml:4: llm:az.api_key: environment variable TF_AZURE is not set" in joined
    assert "p.yaml:4: llm:az.model: is required" in joined
    assert "p.yaml:5: redis:cache: unknown key" in joined
    assert "llm:Bad" in joined and "must match" in joined


def test_load_config_default_and_env(tmp_path: Path) -> None:
    default = load_config(None, env={})
    assert [(e.role, e.ref, e.model) for e in default.registry] == [
        ("primary", "local", "qwen2.5-coder-1.5b-instruct"), ("fast", "local", "smollm2-135m-instruct")]
    assert default.providers["local"].kind == "local"
    path = tmp_path / "c.yaml"
    path.write_text("models:\n  - {role: solo, ref: local, model: smollm2-135m-instruct}\n")
    assert load_config(None, env={"TIERFLOW_CONFIG": str(path)}).registry.roles == ["solo"]
    assert load_config(str(path)).source == str(path)


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_secret_never_echoed_in_type_errors() -> None:
    problems = _problems("providers:\n  p: {kind: openai, api_key: [\"${TF_TEST_KEY}\"]}\n"
                         "models:\n  - {role: primary, ref: p, model: m}\n", env={"TF_TEST_KEY": "sk-very-secret"})
    assert problems and all("sk-very-secret" not in p for p in problems)


def test_unquoted_env_reference_in_a_flow_mapping_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("providers:\n  openai: {kind: openai, api_key: ${KEY}}\n"
                    "models:\n  - {role: primary, ref: openai, model: gpt-4o}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert problem.where.endswith("c.yaml:2")
    assert 'quote environment references: "${VAR}"' in problem.message


# --- hostile input: alias bombs, deep nesting, URLs, secrets ------------------------------------


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)) + \
    "providers: {}\nmodels:\n  - {role: primary, ref: local, model: m, system_context: *i}\n"


def test_an_alias_bomb_is_refused_naming_the_file(tmp_path: Path) -> None:
    assert len(BOMB) < 1500  # stands for 9**9 (387 million) strings once expanded
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert problem.where == str(path) and "alias bomb" in problem.message


def test_ordinary_anchors_still_work() -> None:
    cfg = parse_config("providers:\n  a: {kind: openai, base_url: 'http://h/v1', timeouts: &t {connect: 2, total: 30}}\n"
                       "  b: {kind: openai, base_url: 'http://g/v1', timeouts: *t}\n"
                       "models:\n  - {role: primary, ref: a, model: m}\n")
    assert cfg.providers["b"].timeouts.total == 30


@pytest.mark.parametrize("text", ["models: " + "[" * 5000 + "]" * 5000,
                                  "models:\n" + "".join("  " * i + "- \n" for i in range(3000))],
                         ids=["flow", "block"])
def test_deeply_nested_yaml_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="deep.yaml")
    assert info.value.problems[0].where.startswith("deep.yaml")


BASE_URLS = [("file:///etc/passwd", "not file:"), ("ftp://example.com/v1", "not ftp:"),
             ("unix:/var/run/llm.sock", "not unix:"), ("", "is empty"), ("   ", "is empty"),
             ("http://admin:hunter2-PW@127.0.0.1:8000/v1", "must not carry credentials"),
             ("https://gw.example.com/v1?key=QUERY-SECRET-1", "must not carry a query"),
             ("https://gw.example.com/v1#frag", "fragment"), ("https://:8080/v1", "has no host"),
             ("https://gw:99999/v1", "not a valid URL"), ("api.openai.com/v1", "http:// or https://")]


@pytest.mark.parametrize(("url", "expected"), BASE_URLS)
def test_base_urls_are_http_or_https_with_a_host_and_nothing_secret(url: str, expected: str) -> None:
    [problem] = _problems(f"providers:\n  p: {{kind: openai, base_url: '{url}'}}\n"
                          "models:\n  - {role: primary, ref: p, model: m}\n")
    assert problem.startswith("p.yaml:2: providers.p.base_url: ") and expected in problem
    assert "hunter2" not in problem and "QUERY-SECRET" not in problem


def test_base_url_problems_in_the_resources_form_and_from_the_environment() -> None:
    problems = _problems("llm:fast: {_class: OpenAIConfig, model: m, base_url: 'ftp://h/v1'}\n"
                         "llm:env: {_class: AnthropicConfig, model: m, base_url: '${URL}'}\n",
                         env={"URL": "http://u:SECRET-PASSWORD@h/v1"})
    joined = "\n".join(problems)
    assert "not ftp:" in joined and "must not carry credentials" in joined
    assert "SECRET-PASSWORD" not in joined


def test_an_azure_provider_needs_its_endpoint_at_load() -> None:
    [problem] = _problems("providers:\n  az: {kind: azure, api_key: k}\nmodels:\n  - {role: primary, ref: az, model: m}\n")
    assert "providers.az" in problem and "kind 'azure' needs base_url" in problem


def test_header_values_are_secrets_in_reprs_dumps_and_errors() -> None:
    cfg = parse_config("providers:\n  gw: {kind: openai, base_url: 'http://h/v1', headers: {X-Api-Key: '${HDR}', "
                       "X-Title: hello-there-title}}\nmodels:\n  - {role: primary, ref: gw, model: m}\n",
                       env={"HDR": "hdr-secret-0123456789"})
    settings = cfg.providers["gw"]
    assert settings.headers["X-Api-Key"].get_secret_value() == "hdr-secret-0123456789"
    shown = repr(cfg) + str(cfg) + settings.model_dump_json() + repr(settings)
    assert "hdr-secret-0123456789" not in shown and "hello-there-title" not in shown
    problems = _problems("providers:\n  gw: {kind: openai, headers: {X-Api-Key: [hdr-literal-secret-42]}}\n"
                         "models:\n  - {role: primary, ref: gw, model: m}\n")
    assert problems and all("hdr-literal-secret-42" not in p for p in problems)


@pytest.mark.parametrize(("field", "value"), [
    ("providers.p.timeouts.total", "sk-live-abcdefghijklmnop"), ("providers.p.max_connections", "nope"),
    ("providers.p.kind", "sk-live-abcdefghijklmnop"),
    ("models[0].temperature", "sk-live-abcdefghijklmnop"), ("models[0].modalities", "secret-modality-value"),
    ("reliability.max_retries", "sk-live-abcdefghijklmnop")])
def test_values_from_the_environment_never_appear_in_problems(field: str, value: str) -> None:
    text = ("providers:\n  p: {kind: '${KIND:-openai}', base_url: 'http://h/v1', api_version: '${VER:-v1}', "
            "timeouts: {total: '${TOTAL:-30}'}, max_connections: '${CONN:-10}'}\n"
            "models:\n  - {role: primary, ref: p, model: m, temperature: '${TEMP:-0.5}', modalities: ['${MOD:-text}']}\n"
            "reliability: {max_retries: '${RETRIES:-2}'}\n")
    env_name = {"providers.p.timeouts.total": "TOTAL", "providers.p.max_connections": "CONN", "providers.p.kind": "KIND",
                "providers.p.api_version": "VER", "models[0].temperature": "TEMP", "models[0].modalities": "MOD",
                "reliability.max_retries": "RETRIES"}[field]
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="p.yaml", env={env_name: value})
    text_shown = str(info.value)
    assert field.rsplit(".", 1)[-1] in text_shown and "is not declared" not in text_shown
    assert value not in text_shown and (len(value) < 12 or value[4:12] not in text_shown)


def test_cache_write_prices_and_role_output_caps() -> None:
    cfg = parse_config("prices: {'a/m': {input_per_mtok: 3, output_per_mtok: 15, cache_write_per_mtok: 3.75, "
                       "cache_write_1h_per_mtok: 6}}\nmodels:\n  - {role: primary, ref: local, model: m, max_tokens: 64}\n")
    assert cfg.prices["a/m"].cache_write_per_mtok == 3.75 and cfg.prices["a/m"].cache_write_1h_per_mtok == 6
    assert cfg.registry.primary.max_tokens == 64
    problems = _problems("prices: {'a/m': {input_per_mtok: 3, output_per_mtok: 15, cache_write_per_mtok: -1}}\n"
                         "models:\n  - {role: primary, ref: local, model: m, max_tokens: 0}\n")
    joined = "\n".join(problems)
    assert "prices.a/m.cache_write_per_mtok" in joined and "max_tokens" in joined and "whole number >= 1" in joined


def test_config_text_loads_as_the_file_it_would_replace(tmp_path: Path) -> None:
    # what the console checks before writing: no file is read or written, paths resolve from the file's folder
    path = tmp_path / "gw" / "gateway.yaml"
    text = ("providers:\n  p: {kind: openai, base_url: 'http://127.0.0.1:9/v1', api_key: k}\n"
            "models:\n  - {role: primary, ref: p, model: m}\ngateway: {database: ledger.sqlite}\n")
    config = config_from_text(text, path)
    assert config.source == str(path) and config.gateway.database == str(path.parent / "ledger.sqlite")
    assert not path.exists()
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    assert load_config(path).gateway.database == config.gateway.database
    with pytest.raises(ConfigError) as info:
        config_from_text(text.replace("role: primary", "role: Primary"), path, source="gateway.yaml")
    assert [str(p).split(":")[:2] for p in info.value.problems] == [["gateway.yaml", "4"]]


def test_provider_problems_name_the_role_and_the_unusable_provider() -> None:
    config = parse_config("models:\n  - {role: primary, ref: openai, model: gpt-4o}\n"
                          "  - {role: fast, ref: local, model: smollm2-135m-instruct}\n", env={})
    problems = config.provider_problems()
    assert [(p.where, p.message) for p in problems] == [
        ("role 'primary': provider 'openai'", "environment variable OPENAI_API_KEY is not set (it holds the API key)")]
    assert parse_config("models:\n  - {role: primary, ref: openai, model: gpt-4o}\n",
                        env={"OPENAI_API_KEY": "sk-x"}).provider_problems() == []
