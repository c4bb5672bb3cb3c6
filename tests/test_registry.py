"""The role registry (seed 001): every rule, and every problem reported at once with entry + field."""

from __future__ import annotations

import pytest

from tierflow.errors import ConfigError, UnknownRoleError
from tierflow.registry import MODALITIES, Registry, Target, parse_registry


def _problems(data: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_registry(data)
    return [str(p) for p in info.value.problems]


def test_minimal_registry_first_entry_is_the_default() -> None:
    reg = parse_registry([{"role": "main", "ref": "openai", "model": "gpt-4o"},
                          {"role": "fast", "ref": "openai", "model": "gpt-4o-mini"}])
    assert reg.roles == ["main", "fast"]
    assert reg.primary.role == "main" and reg.resolve(None).role == "main"  # no role pinned: the first entry
    assert "fast" in reg and "slow" not in reg
    assert len(reg) == 2


def test_primary_is_a_role_name_like_any_other() -> None:
    reg = parse_registry([{"role": "main", "ref": "openai", "model": "gpt-4o"}])
    assert "primary" not in reg
    with pytest.raises(UnknownRoleError) as info:
        reg.get("primary")
    assert "unknown role 'primary'" in str(info.value) and "['main']" in str(info.value)
    with pytest.raises(UnknownRoleError):
        reg.resolve("primary")


def test_full_entry_shape_round_trips() -> None:
    raw = [{"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o", "temperature": 0.5,
            "modalities": ["text", "structured_output"], "system_context": "Be brief.",
            "fallback": [{"ref": "openai", "model": "gpt-3.5-turbo"}]}]
    reg = parse_registry(raw)
    entry = reg.get("primary")
    assert [str(t) for t in entry.chain] == ["scaigrid/openai/gpt-4o", "openai/gpt-3.5-turbo"]
    assert reg.to_list() == raw


def test_defaults_modalities_text() -> None:
    reg = parse_registry([{"role": "primary", "ref": "x", "model": "m"}])
    assert reg.primary.modalities == ["text"]
    assert reg.primary.fallback == [] and reg.primary.temperature is None


@pytest.mark.parametrize("role", ["Fast", "1fast", "fast-model", "", "_x", "fast model"])
def test_bad_role_names_rejected(role: str) -> None:
    problems = _problems([{"role": role, "ref": "x", "model": "m"}])
    assert len(problems) == 1 and ".role" in problems[0] and "^[a-z][a-z0-9_]*$" in problems[0]


@pytest.mark.parametrize("role", ["a", "fast", "critic_2", "x9"])
def test_good_role_names_accepted(role: str) -> None:
    assert parse_registry([{"role": role, "ref": "x", "model": "m"}]).roles == [role]


def test_empty_registry_rejected() -> None:
    assert any("at least one" in p for p in _problems([]))
    with pytest.raises(ConfigError):
        Registry([])


def test_not_a_list_rejected() -> None:
    assert "expected a list" in _problems({"role": "x"})[0]


@pytest.mark.parametrize("temp", [-0.1, 2.01, 5])
def test_temperature_range(temp: float) -> None:
    problems = _problems([{"role": "a", "ref": "x", "model": "m", "temperature": temp}])
    assert "temperature" in problems[0] and "0.0 to 2.0" in problems[0]


@pytest.mark.parametrize("temp", [0.0, 2.0, 1])
def test_temperature_bounds_inclusive(temp: float) -> None:
    assert parse_registry([{"role": "a", "ref": "x", "model": "m", "temperature": temp}]).primary.temperature == temp


def test_every_modality_accepted_and_unknown_rejected() -> None:
    reg = parse_registry([{"role": "a", "ref": "x", "model": "m", "modalities": list(MODALITIES)}])
    assert reg.primary.modalities == list(MODALITIES)
    problems = _problems([{"role": "a", "ref": "x", "model": "m", "modalities": ["text", "smell"]}])
    assert "modalities" in problems[0] and "'smell'" in problems[0]


def test_every_problem_listed_with_entry_and_field() -> None:
    problems = _problems([
        {"role": "primary", "ref": "x", "model": "m"},
        {"role": "Bad", "ref": "x", "model": "m", "temperature": 3},
        {"role": "fast", "model": "m", "colour": "red"},
        {"role": "primary", "ref": "y", "model": "n"},
        "not an object",
        {"role": "fb", "ref": "x", "model": "m", "fallback": [{"ref": "y"}]},
    ])
    text = "\n".join(problems)
    assert "models[1] (role 'Bad').role" in text
    assert "models[1] (role 'Bad').temperature" in text
    assert "models[2] (role 'fast').ref: is required" in text
    assert "models[2] (role 'fast').colour" in text
    assert "models[3] (role 'primary').role: duplicate role 'primary'" in text and "models[0]" in text
    assert "models[4]: expected an object" in text
    assert "models[5] (role 'fb').fallback[0].model: is required" in text
    assert len(problems) == 7


def test_unknown_key_in_fallback_names_fallback_fields() -> None:
    problems = _problems([{"role": "a", "ref": "x", "model": "m", "fallback": [{"ref": "y", "model": "n", "w": 1}]}])
    assert "fallback[0].w" in problems[0] and "ref, model" in problems[0]
    assert "role, ref" not in problems[0]


def test_missing_required_fields_each_reported() -> None:
    problems = _problems([{}])
    assert sorted(p.split(": ")[0] for p in problems) == ["models[0].model", "models[0].ref", "models[0].role"]


def test_empty_ref_or_model_rejected() -> None:
    problems = _problems([{"role": "a", "ref": "", "model": ""}])
    assert len(problems) == 2


def test_an_empty_field_is_required_like_a_missing_one_in_a_fallback_too() -> None:
    problems = _problems([{"role": "a", "ref": "p", "model": "", "fallback": [{"ref": "p", "model": ""}]},
                          {"role": "b", "ref": "p", "fallback": [{"ref": "p"}]}])
    assert sorted(problems) == ["models[0] (role 'a').fallback[0].model: is required",
                                "models[0] (role 'a').model: is required",
                                "models[1] (role 'b').fallback[0].model: is required",
                                "models[1] (role 'b').model: is required"]


def test_unknown_role_lists_declared_roles() -> None:
    reg = parse_registry([{"role": "primary", "ref": "x", "model": "m"}, {"role": "fast", "ref": "x", "model": "n"}])
    with pytest.raises(UnknownRoleError) as info:
        reg.get("fastt")
    assert "'fastt'" in str(info.value) and "['fast', 'primary']" in str(info.value)


def test_target_parse() -> None:
    t = Target.parse("openrouter/meta-llama/llama-3-8b")
    assert (t.ref, t.model) == ("openrouter", "meta-llama/llama-3-8b")
    assert str(t) == "openrouter/meta-llama/llama-3-8b"
    for bad in ("gpt-4o", "/m", "p/"):
        with pytest.raises(ValueError):
            Target.parse(bad)


def test_system_context_needs_a_text_modality() -> None:
    problems = _problems([{"role": "emb", "ref": "x", "model": "m", "modalities": ["embedding"],
                           "system_context": "hi"}])
    assert "system_context" in problems[0] and "text" in problems[0]


def test_where_prefix_used() -> None:
    with pytest.raises(ConfigError) as info:
        parse_registry([{"role": "A", "ref": "x", "model": "m"}], where="core_identity.models", source="f.json")
    assert str(info.value.problems[0]).startswith("core_identity.models[0] (role 'A').role")
    assert "f.json" in str(info.value)


def test_duplicate_role_is_reported_even_when_the_entry_has_other_problems() -> None:
    with pytest.raises(ConfigError) as info:
        parse_registry([{"role": "fast", "ref": "a", "model": "m"},
                        {"role": "fast", "ref": "a", "model": "m", "colour": "red"}])
    wheres = [p.where for p in info.value.problems]
    assert "models[1] (role 'fast').role" in wheres
    assert "models[1] (role 'fast').colour" in wheres


def test_a_chat_lookup_of_an_embedding_only_role_is_refused() -> None:
    from tierflow.errors import ModalityError

    reg = parse_registry([{"role": "primary", "ref": "x", "model": "m"},
                          {"role": "embedder", "ref": "x", "model": "e", "modalities": ["embedding"]},
                          {"role": "json", "ref": "x", "model": "j", "modalities": ["structured_output"]}])
    assert reg.chat_roles == ["primary", "json"]
    with pytest.raises(ModalityError) as info:
        reg.get("embedder")
    assert "role 'embedder' has modalities ['embedding']" in str(info.value)
    assert "chat roles: ['primary', 'json']" in str(info.value)
    assert reg.get("embedder", chat=False).model == "e"  # other uses (an embedding call) still find it
    assert reg.get("json").model == "j"


async def test_the_client_refuses_a_chat_call_to_an_embedding_role_before_sending_it() -> None:
    from tierflow.calls import Client
    from tierflow.config import parse_config
    from tierflow.errors import ModalityError
    from tierflow.testing import LLMTestServer

    async with LLMTestServer() as srv:
        client = Client(parse_config(f"""
providers: {{t: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: k}}}}
models:
  - {{role: primary, ref: t, model: chat-model}}
  - {{role: embedder, ref: t, model: embed-model, modalities: [embedding]}}
""", source="test config"))
        try:
            with pytest.raises(ModalityError):
                await client.acall("embedder", "hello")
            assert srv.count() == 0
        finally:
            await client.aclose()


def test_unknown_roles_suggest_the_nearest() -> None:
    reg = parse_registry([{"role": "primary", "ref": "x", "model": "m"}, {"role": "fast", "ref": "x", "model": "n"}])
    with pytest.raises(UnknownRoleError, match="Did you mean 'fast'") as info:
        reg.get("fsat")
    assert info.value.suggestion == "fast"
    with pytest.raises(UnknownRoleError) as far:
        reg.get("zzz")
    assert far.value.suggestion is None and "Did you mean" not in str(far.value)
