"""The DSL back end reproduces seed 001's text."""

from __future__ import annotations

from typing import Any

from tierflow.flowfile import emit_dsl, lower_flow, parse_flow_data

SEED_MODELS = '''@models {
    primary = {
        provider = "scaigrid"
        model = "openai/gpt-4o"
        temperature = 0.5
        modalities = [:text, :structured_output]
    }
    fast = {
        provider = "scaigrid"
        model = "openai/gpt-4o-mini"
        modalities = [:text]
        fallback += { provider = "openai", model = "gpt-3.5-turbo" }
    }
}'''

SEED_BLOCKS = '''classify = @flexible {
    model = "fast"
    goal = "Classify the customer's intent."
    output: Classification
}

respond = @guarded {
    model = "primary"
    goal = "Generate the response."
    guard: confidence > 0.7
    validate: result.citations.length > 0
}'''


def seed_flow(base: dict[str, Any]) -> dict[str, Any]:
    base["nodes"][2:3] = [
        {"id": "classify", "kind": "llm", "config": {"llm_role": "fast", "style": "flexible",
                                                     "goal": "Classify the customer's intent.",
                                                     "output": "Classification"}},
        {"id": "prompt2", "kind": "prompt", "config": {"user": "{question}"}},
        {"id": "respond", "kind": "llm", "config": {"llm_role": "primary", "style": "guarded",
                                                    "goal": "Generate the response.", "guard": "confidence > 0.7",
                                                    "validate": "result.citations.length > 0"}},
    ]
    base["edges"] = [{"source": a, "target": b} for a, b in
                     [("start", "ask"), ("ask", "classify"), ("classify", "prompt2"), ("prompt2", "respond"),
                      ("respond", "end")]]
    return base


def test_models_block_and_llm_blocks_match_the_seed(minimal_flow: dict[str, Any]) -> None:
    text = emit_dsl(lower_flow(parse_flow_data(seed_flow(minimal_flow))))
    assert SEED_MODELS in text
    assert text.rstrip().endswith(SEED_BLOCKS)


def test_only_llm_nodes_get_blocks_and_strings_are_escaped(minimal_flow: dict[str, Any]) -> None:
    minimal_flow["config"]["core_identity"]["models"][0]["system_context"] = 'Say "hi"\nthen stop.'
    minimal_flow["nodes"][2]["config"]["goal"] = 'Answer "briefly".'
    text = emit_dsl(lower_flow(parse_flow_data(minimal_flow)))
    assert 'system_context = "Say \\"hi\\"\\nthen stop."' in text
    assert 'goal = "Answer \\"briefly\\"."' in text
    assert text.count("= @") == 1 and "answer = @flexible {" in text
