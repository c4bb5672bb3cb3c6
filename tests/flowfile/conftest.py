"""Flow builders shared by the flow-file tests (fresh dicts each call, so tests may mutate them)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REGISTRY = [
    {"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o", "temperature": 0.5,
     "modalities": ["text", "structured_output"]},
    {"role": "fast", "ref": "scaigrid", "model": "openai/gpt-4o-mini", "modalities": ["text"],
     "fallback": [{"ref": "openai", "model": "gpt-3.5-turbo"}]},
]

MINIMAL = {
    "schema_version": 1,
    "config": {"core_identity": {"name": "Minimal", "models": REGISTRY}},
    "nodes": [
        {"id": "start", "kind": "entry"},
        {"id": "ask", "kind": "prompt", "config": {"system": "Be brief.", "user": "{question}"}},
        {"id": "answer", "kind": "llm", "config": {"llm_role": "fast"}, "outputs": {"content": "answer"}},
        {"id": "end", "kind": "exit"},
    ],
    "edges": [{"source": "start", "target": "ask"}, {"source": "ask", "target": "answer"},
              {"source": "answer", "target": "end"}],
}

ALL_KINDS = {
    "schema_version": 1,
    "config": {"core_identity": {"name": "Every kind", "models": REGISTRY}, "description": "one of each"},
    "variables": {"question": {"type": "string", "description": "what to answer"},
                  "mode": {"type": "string", "default": "fast"}},
    "meta": {"canvas": {"zoom": 1.25, "viewport": [0, 0]}, "owner": "team-a"},
    "nodes": [
        {"id": "start", "kind": "entry", "position": {"x": 0, "y": 0}, "ui": {"width": 80}},
        {"id": "ask", "kind": "prompt", "label": "Ask", "position": {"x": 100, "y": 0.5},
         "config": {"messages": [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "{question}"}]}},
        {"id": "answer", "kind": "llm", "label": "Answer",
         "config": {"model": "fast", "temperature": 0.3, "max_tokens": 32, "style": "guarded",
                    "goal": "Answer.", "guard": "confidence > 0.7", "validate": "result.length > 0",
                    "fallback": ["primary", "openai/gpt-4o"]},
         "ui": {"color": "#ffcc00", "collapsed": False}},
        {"id": "check", "kind": "code", "config": {"callable": "json:dumps"},
         "inputs": {"obj": {"ref": "answer.content"}, "indent": 2}},
        {"id": "route", "kind": "branch", "label": "Long?"},
        {"id": "deep", "kind": "pattern", "config": {"pattern": "cascade", "roles": ["fast", "primary"],
                                                     "threshold": 0.8},
         "inputs": {"messages": {"ref": "ask.messages"}}},
        {"id": "merge", "kind": "join"},
        {"id": "end", "kind": "exit", "label": "Done", "position": {"x": 900, "y": 10}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "ask"},
        {"source": "ask", "target": "answer", "source_handle": "out", "target_handle": "in"},
        {"source": "answer", "target": "check"},
        {"source": "check", "target": "route"},
        {"source": "route", "target": "deep", "condition": "'long' in answer.content and input.mode != 'fast'",
         "label": "long"},
        {"source": "route", "target": "merge", "soft": True, "ui": {"animated": True}},
        {"source": "deep", "target": "merge", "soft": True},
        {"source": "merge", "target": "end"},
    ],
}


@pytest.fixture
def minimal_flow() -> dict[str, Any]:
    return copy.deepcopy(MINIMAL)


@pytest.fixture
def all_kinds_flow() -> dict[str, Any]:
    return copy.deepcopy(ALL_KINDS)


@pytest.fixture
def write_flow(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(data: dict[str, Any], name: str = "flow.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        return path
    return write
