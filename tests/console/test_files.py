"""How an edit becomes a file's next text: comments and layout kept, only what changed rewritten."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from tierflow.console.files import Edit, EditableFile, candidate_text, models_section

from .conftest import GATEWAY_YAML, NEW_FLOW

MODELS = [{"role": "primary", "ref": "t", "model": "strong-model"}, {"role": "fast", "ref": "t", "model": "fast-model"}]


def _gateway(tmp_path: Path) -> EditableFile:
    return EditableFile("gateway.yaml", tmp_path / "gateway.yaml", "gateway")


def _changed(before: str, after: str) -> list[str]:
    return [d for d in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]


def test_an_unchanged_registry_leaves_the_yaml_as_it_was(tmp_path: Path) -> None:
    assert candidate_text(_gateway(tmp_path), GATEWAY_YAML, Edit(MODELS, {})) == GATEWAY_YAML


def test_a_changed_model_rewrites_one_line_and_keeps_every_comment(tmp_path: Path) -> None:
    models = [MODELS[0], {**MODELS[1], "model": "other-model", "temperature": 0.2}]
    after = candidate_text(_gateway(tmp_path), GATEWAY_YAML, Edit(models, {}))
    assert _changed(GATEWAY_YAML, after) == [
        "-  - {role: fast, ref: t, model: fast-model}", "+  - {role: fast, ref: t, model: other-model, temperature: 0.2}"]
    assert "# the strong one" in after and "# upstream" in after and after.startswith("# The gateway's config")


def test_added_and_removed_entries_keep_the_registrys_style(tmp_path: Path) -> None:
    models = [MODELS[0], {"role": "critic", "ref": "t", "model": "m", "fallback": [{"ref": "t", "model": "b"}]}]
    after = candidate_text(_gateway(tmp_path), GATEWAY_YAML, Edit(models, {}))
    assert _changed(GATEWAY_YAML, after) == [
        "-  - {role: fast, ref: t, model: fast-model}",
        "+  - {role: critic, ref: t, model: m, fallback: [{ref: t, model: b}]}"]


def test_the_yaml_preview_is_the_models_section_with_its_comments(tmp_path: Path) -> None:
    section = models_section(GATEWAY_YAML)
    assert section.startswith("models:\n") and "# the strong one" in section
    assert "providers" not in section and "api_key" not in section


def test_a_flows_node_roles_and_legacy_alias_follow(tmp_path: Path) -> None:
    data = json.loads(NEW_FLOW)
    data["nodes"][4]["config"] = {"model": "primary"}  # the legacy alias only
    f = EditableFile("new-flow.json", tmp_path / "new-flow.json", "flow")
    models = [*data["config"]["core_identity"]["models"], {"role": "fast", "ref": "local", "model": "m"}]
    after = json.loads(candidate_text(f, json.dumps(data), Edit(models, {"classify": "fast", "respond": "fast"})))
    nodes = {n["id"]: n for n in after["nodes"]}
    assert nodes["classify"]["config"] == {"llm_role": "fast"}
    assert nodes["respond"]["config"] == {"model": "fast", "llm_role": "fast"}
    assert after["config"]["core_identity"]["models"] == models
    assert list(after) == list(data)  # the file's key order
