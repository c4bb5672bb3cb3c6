"""Traffic splits as a registry role kind: the variant rule (weights, stickiness, stability) and the
registry's checks of a split (every bad split refused, naming the entry and the field)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tierflow.config import parse_config
from tierflow.errors import ConfigError, FlowCompileError
from tierflow.registry import parse_registry
from tierflow.splits import SplitEntry, split_point

MODELS: list[dict[str, Any]] = [
    {"role": "current", "ref": "openai", "model": "gpt-4o"},
    {"role": "candidate", "ref": "anthropic", "model": "claude-3-5-sonnet-latest"},
]
KEYS = [f"user-{i}" for i in range(10_000)]


def _split(*arms: tuple[str, float], role: str = "chat") -> SplitEntry:
    return SplitEntry.model_validate({"role": role, "split": [{"role": r, "weight": w} for r, w in arms]})


def _problems(models: list[Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_registry(models)
    return [str(p) for p in info.value.problems]


# --- the variant rule ---------------------------------------------------------------------------


def test_weights_are_honoured_over_many_keys() -> None:
    counts = Counter(_split(("current", 0.9), ("candidate", 0.1)).choose(k) for k in KEYS)
    # exact: the assignment is a pure function of (split role, key), the same in every version
    assert counts == {"current": 9012, "candidate": 988}
    relative = Counter(_split(("a", 2), ("b", 1), ("c", 1), role="ab").choose(k) for k in KEYS)
    assert relative == {"a": 4997, "b": 2530, "c": 2473}  # weights are relative: 2/1/1 is 50/25/25 %


def test_the_key_point_is_pinned_so_assignments_survive_upgrades() -> None:
    assert split_point("chat", "user-1") == pytest.approx(0.05694080300187576, abs=1e-15)
    assert split_point("chat", "user-2") == pytest.approx(0.7143629211327059, abs=1e-15)
    assert split_point("other", "user-1") != split_point("chat", "user-1")  # each split draws apart


def test_a_key_keeps_its_variant_across_calls_and_processes(tmp_path: Path) -> None:
    split = _split(("current", 0.5), ("candidate", 0.5))
    here = {k: split.choose(k) for k in KEYS[:200]}
    assert all(split.choose(k) == v for k, v in here.items())
    code = ("import json, sys; from tierflow.splits import SplitEntry; "
            "s = SplitEntry.model_validate(json.loads(sys.argv[1])); "
            "print(json.dumps({k: s.choose(k) for k in json.loads(sys.argv[2])}))")
    for seed in ("1", "2"):  # Python's own str hash differs per process; the split's must not
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(split.model_dump()), json.dumps(KEYS[:200])],
                              capture_output=True, text=True, check=True, timeout=60,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(proc.stdout) == here


def test_ramping_up_the_last_variant_keeps_the_keys_it_had() -> None:
    before = {k for k in KEYS if _split(("current", 0.9), ("candidate", 0.1)).choose(k) == "candidate"}
    after = {k for k in KEYS if _split(("current", 0.8), ("candidate", 0.2)).choose(k) == "candidate"}
    assert before < after and len(after) == 1959


def test_without_a_key_each_call_draws_at_random() -> None:
    split = _split(("current", 0.75), ("candidate", 0.25))
    rng = random.Random(7)
    draws = Counter(split.choose(rng=rng) for _ in range(4000))
    assert set(draws) == {"current", "candidate"}
    assert 2850 < draws["current"] < 3150  # 3000 expected; 5 sigma is +-137
    assert split.share("candidate") == 0.25


# --- the registry's checks ----------------------------------------------------------------------


def test_a_split_is_a_role_of_the_registry() -> None:
    reg = parse_registry([*MODELS, {"role": "chat", "split": [{"role": "current", "weight": 0.9},
                                                              {"role": "candidate", "weight": 0.1}]}])
    assert reg.roles == ["current", "candidate", "chat"] and "chat" in reg
    assert reg.splits["chat"].variants == ["current", "candidate"]
    assert reg.chat_roles == ["current", "candidate", "chat"]
    assert [e.role for e in reg] == ["current", "candidate"]  # iteration: the model roles
    with pytest.raises(ConfigError, match="'chat'.*is a traffic split over \\['current', 'candidate'\\]"):
        reg.get("chat")
    assert reg.to_list()[-1] == {"role": "chat", "split": [{"role": "current", "weight": 0.9},
                                                           {"role": "candidate", "weight": 0.1}]}


@pytest.mark.parametrize(("arms", "field", "expected"), [
    ([{"role": "current", "weight": 0}], "split[0].weight", "0 is not a valid weight; expected a positive number"),
    ([{"role": "current", "weight": -1}], "split[0].weight", "-1 is not a valid weight"),
    ([{"role": "current", "weight": float("inf")}], "split[0].weight", "expected a positive number"),
    ([{"role": "current", "weight": float("nan")}], "split[0].weight", "expected a positive number"),
    ([{"role": "current"}], "split[0].weight", "is required"),
    ([{"role": "currnet", "weight": 1}], "split[0].role",
     "role 'currnet' is not declared (model roles: ['candidate', 'current']); did you mean 'current'?"),
    ([{"role": "chat", "weight": 1}], "split[0].role", "split 'chat' names itself"),
    ([{"role": "current", "weight": 1}, {"role": "current", "weight": 2}], "split[1].role",
     "'current' is named twice in this split"),
    ([{"role": "current", "weight": 1, "model": "x"}], "split[0].model", "a split variant has: role, weight"),
    ([], "split", "names no variant"),
])
def test_bad_splits_are_refused_naming_the_entry_and_field(arms: list[Any], field: str, expected: str) -> None:
    problems = _problems([*MODELS, {"role": "chat", "split": arms}])
    assert any(p.startswith(f"models[2] (role 'chat').{field}: ") and expected in p for p in problems), problems


def test_no_split_of_a_split_and_no_chat_less_variant() -> None:
    problems = _problems([*MODELS, {"role": "emb", "ref": "openai", "model": "e", "modalities": ["embedding"]},
                          {"role": "ab", "split": [{"role": "current", "weight": 1}, {"role": "emb", "weight": 1}]},
                          {"role": "abc", "split": [{"role": "ab", "weight": 1}, {"role": "candidate", "weight": 1}]}])
    assert any(p.startswith("models[3] (role 'ab').split[1].role: role 'emb' cannot serve a chat call")
               for p in problems), problems
    assert any(p.startswith("models[4] (role 'abc').split[0].role: 'ab' is a split too; a split cannot name a split")
               for p in problems), problems


def test_a_split_cannot_be_the_first_entry_or_carry_model_settings() -> None:
    problems = _problems([{"role": "chat", "split": [{"role": "current", "weight": 1}]}, *MODELS])
    assert any(p.startswith("models[0] (role 'chat'): the first entry is the implicit primary") for p in problems)
    problems = _problems([*MODELS, {"role": "chat", "ref": "openai", "split": [{"role": "current", "weight": 1}]}])
    assert any(p.startswith("models[2] (role 'chat').ref: is not a known field (a split has: role, split")
               for p in problems), problems
    problems = _problems([*MODELS, {"role": "current", "split": [{"role": "candidate", "weight": 1}]}])
    assert any("duplicate role 'current'" in p for p in problems), problems


CONFIG = """\
providers:
  t: {kind: openai, base_url: "http://127.0.0.1:9/v1", api_key: k}
models:
  - {role: current, ref: t, model: a}
  - {role: candidate, ref: t, model: b}
  - role: chat
    split:
      - {role: current, weight: 0.9}
      - {role: candidat, weight: 0}
"""


def test_a_config_file_names_the_file_line_and_field() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG, source="tierflow.yaml")
    text = str(info.value)
    assert "tierflow.yaml:6: models[2] (role 'chat').split[1].weight: 0 is not a valid weight" in text
    assert "tierflow.yaml:6: models[2] (role 'chat').split[1].role: role 'candidat' is not declared" in text
    assert "did you mean 'candidate'?" in text
    ok = parse_config(CONFIG.replace("candidat, weight: 0", "candidate, weight: 0.1"), source="tierflow.yaml")
    assert ok.registry.splits["chat"].variants == ["current", "candidate"] and "chat" in ok.roles


def test_a_flow_file_names_the_file_and_json_path(tmp_path: Path) -> None:
    from tierflow.flowfile import compile_file

    flow = {"schema_version": 1,
            "config": {"core_identity": {"name": "ab", "models": [
                {"role": "current", "ref": "local", "model": "a"},
                {"role": "chat", "split": [{"role": "current", "weight": 1}, {"role": "chat", "weight": 1}]}]}},
            "nodes": [{"id": "start", "kind": "entry"},
                      {"id": "ask", "kind": "llm", "config": {"llm_role": "chat"},
                       "inputs": {"messages": [{"role": "user", "content": "hi"}]}},
                      {"id": "end", "kind": "exit"}],
            "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "end"}]}
    path = tmp_path / "ab.flow.json"
    path.write_text(json.dumps(flow))
    with pytest.raises(FlowCompileError) as info:
        compile_file(path, "ir")
    text = str(info.value)
    assert str(path) in text
    assert "config.core_identity.models[1] (role 'chat').split[1].role: split 'chat' names itself" in text
