"""The IR back end: seed 001's IRModelDecl shape under manifest.models, plus nodes and edges."""

from __future__ import annotations

import json
from typing import Any

from tierflow.flowfile import emit_ir, ir_to_json, lower_flow, parse_flow_data
from tierflow.ir import END_ID, PARENT_ID, START_ID


def test_manifest_models_use_the_seed_ir_shape(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["config"]["core_identity"]["models"][0]["system_context"] = "You are terse."
    data = ir_to_json(lower_flow(parse_flow_data(minimal_flow)))
    assert data["manifest"]["models"] == [
        {"role": "primary", "provider": "scaigrid", "model": "openai/gpt-4o",
         "modalities": ["text", "structured_output"], "temperature": 0.5, "system_context": "You are terse."},
        {"role": "fast", "provider": "scaigrid", "model": "openai/gpt-4o-mini", "modalities": ["text"],
         "fallback": [{"provider": "openai", "model": "gpt-3.5-turbo"}]},
    ]
    assert data["manifest"]["name"] == "Minimal"


def test_nodes_and_edges_are_json_with_refs(minimal_flow: dict[str, Any]) -> None:
    data = json.loads(emit_ir(lower_flow(parse_flow_data(minimal_flow))))
    nodes = {n["id"]: n for n in data["nodes"]}
    assert set(nodes) == {START_ID, "ask", "answer", END_ID}
    assert nodes["ask"]["inputs"] == {"question": {"ref": [PARENT_ID, "question"]}}
    assert nodes["answer"] == {"id": "answer", "kind": "llm", "config": {"llm_role": "fast", "fallback": []},
                               "inputs": {"messages": {"ref": ["ask", "messages"]}},
                               "outputs": {"content": "answer"}}
    assert data["edges"][0] == {"source": START_ID, "target": "ask"}


def test_soft_edges_and_canvas_meta_survive(all_kinds_flow: dict[str, Any]) -> None:
    data = ir_to_json(lower_flow(parse_flow_data(all_kinds_flow)))
    assert {"source": "deep", "target": "merge", "soft": True} in data["edges"]
    start = next(n for n in data["nodes"] if n["id"] == START_ID)
    assert start["meta"] == {"position": {"x": 0, "y": 0}, "ui": {"width": 80}, "flow_id": "start"}
    assert data["manifest"]["variables"]["mode"] == {"type": "string", "default": "fast"}
