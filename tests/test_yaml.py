"""Safe YAML: plain data only, ordinary anchors allowed, alias bombs and recursive anchors refused."""

from __future__ import annotations

import pytest
import yaml

from tierflow._yaml import YAMLTooLargeError, compose_yaml, expanded_size, load_yaml


def _bomb(levels: int, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [7, 9])
def test_alias_bomb_is_refused_before_anything_walks_it(levels: int) -> None:
    text = _bomb(levels)
    assert len(text) < 2_000
    with pytest.raises(YAMLTooLargeError, match="alias"):
        load_yaml(text)
    with pytest.raises(YAMLTooLargeError):
        compose_yaml(text)


def test_a_small_limit_refuses_a_modest_expansion() -> None:
    with pytest.raises(YAMLTooLargeError):
        load_yaml(_bomb(3), limit=500)
    assert load_yaml(_bomb(3), limit=5_000)["l2"][0][0][0] == "lol"


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    doc = load_yaml("defaults: &d {temperature: 0.2, max_tokens: 64}\n"
                    "roles:\n  - {<<: *d, role: fast}\n  - {<<: *d, role: strong, temperature: 0.7}\n")
    assert doc["roles"] == [{"temperature": 0.2, "max_tokens": 64, "role": "fast"},
                            {"temperature": 0.7, "max_tokens": 64, "role": "strong"}]


def test_recursive_anchor_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="recursive"):
        load_yaml("a: &a [1, *a]\n")


def test_unsafe_tags_are_refused_and_empty_documents_are_none() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object/apply:os.system ['echo hi']")
    assert load_yaml("") is None
    assert load_yaml("# only a comment\n") is None


def test_expanded_size_counts_aliases_as_often_as_they_appear() -> None:
    node = compose_yaml("a: &a [1, 2]\nb: [*a, *a]\n")
    # mapping 1 + (key a 1 + seq 3) + (key b 1 + seq 1 + 2 x 3) = 13
    assert expanded_size(node) == 13


def test_deep_nesting_is_walked_without_recursion() -> None:
    # libyaml refuses documents nested deeper than 1,000 levels itself; the size walk is iterative,
    # so a document at that depth costs no Python recursion either
    depth = 990
    node = compose_yaml("[" * depth + "]" * depth)
    assert expanded_size(node) == depth
    with pytest.raises(yaml.YAMLError):
        compose_yaml("[" * 5_000 + "]" * 5_000)
