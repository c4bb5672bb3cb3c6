"""The patterns through the real call layer against the loopback test server."""

from __future__ import annotations

import pytest

from tierflow.calls import Client
from tierflow.engine import Engine
from tierflow.errors import GraphBuildError
from tierflow.graph import END, PARENT, START, GraphNode, PromptNode
from tierflow.ir import END_ID, START_ID, IREdge, IRModule, IRNode, IRRef
from tierflow.patterns import (
    Cascade,
    CostGate,
    Ensemble,
    Router,
    SchemaValid,
    SelfConsistency,
    Verifier,
    VerifierScore,
    bind_patterns,
)
from tierflow.testing import Answer, LLMTestServer, Status


async def test_cascade_accepts_confident_cheap_answer(llm_server: LLMTestServer, client: Client) -> None:
    result = await Cascade(cheap="fast", strong="strong", threshold=0.5).run("What is 2+2?", client=client)
    assert result.role == "fast" and not result.escalated
    assert "logprobs confidence" in result.reason and ">= threshold 0.5" in result.reason
    assert 0.5 <= (result.confidence or 0) <= 1
    assert (llm_server.count("fast-model"), llm_server.count("strong-model")) == (1, 0)
    assert llm_server.requests[-1]["logprobs"] is True


async def test_cascade_escalates_below_threshold_and_says_why(llm_server: LLMTestServer,
                                                               client: Client) -> None:
    llm_server.script("fast-model", [Answer("maybe", input_tokens=100, output_tokens=10)])
    llm_server.script("strong-model", [Answer("4", input_tokens=100, output_tokens=10)])
    result = await Cascade(cheap="fast", strong="strong", threshold=0.9999).run("2+2?", client=client)
    assert (result.content, result.role, result.model_used) == ("4", "strong", "t/strong-model")
    assert result.escalated
    assert "< threshold 0.9999" in result.reason and "escalated" in result.reason
    assert result.details["escalations"][0]["role"] == "fast"
    assert result.cost_usd == pytest.approx(100e-6 + 20e-6 + 1000e-6 + 300e-6)


async def test_cascade_self_consistency_and_request_classes(llm_server: LLMTestServer,
                                                            client: Client) -> None:
    llm_server.set_default("fast-model", Answer("Paris"))
    llm_server.script("fast-model", [Answer("Paris"), Answer("paris."), Answer("London")])
    cascade = Cascade(cheap="fast", strong="strong", signal=SelfConsistency(k=3),
                      threshold={"default": 0.6, "hard": 0.9},
                      classify=lambda msgs: "hard" if "prove" in msgs[-1]["content"] else "default")
    easy = await cascade.run("Capital of France?", client=client)
    assert easy.role == "fast" and easy.confidence == pytest.approx(2 / 3)
    assert easy.details["class"] == "default"
    llm_server.script("fast-model", [Answer("Paris"), Answer("paris."), Answer("London")])
    hard = await cascade.run("prove it: capital of France?", client=client)
    assert hard.role == "strong" and hard.details["class"] == "hard"
    assert "0.667 < threshold 0.9 (class 'hard')" in hard.reason


async def test_cascade_escalates_when_signal_cannot_score(llm_server: LLMTestServer,
                                                          client: Client) -> None:
    llm_server.script("backup-model", [Answer("no idea")])
    result = await Cascade(cheap="fast", strong="strong", signal=VerifierScore(role="backup"),
                           threshold=0.5).run("Hi", client=client)
    assert result.role == "strong"
    assert "verifier gave no score for 'fast'" in result.reason


async def test_router_dispatches_to_specialist(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("Category: MATH")])
    llm_server.script("strong-model", [Answer("x = 3")])
    router = Router(classifier="fast", routes={"CODE": "backup", "MATH": "strong"}, default="fast")
    result = await router.run("Solve 2x = 6", client=client)
    assert (result.content, result.role, result.details["label"]) == ("x = 3", "strong", "MATH")
    assert "label 'MATH'" in result.reason
    classify_request = llm_server.requests[0]
    assert "CODE, MATH" in classify_request["messages"][0]["content"]


async def test_router_default_and_function_classifier(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("I am not sure")])
    router = Router(classifier="fast", routes={"CODE": "strong"}, default="backup")
    result = await router.run("hello", client=client)
    assert result.role == "backup" and "no known label" in result.reason
    by_rule = Router(classifier=lambda msgs: "CODE" if "def " in msgs[-1]["content"] else "OTHER",
                     routes={"CODE": "strong", "OTHER": "fast"})
    assert (await by_rule.run("def f(): pass", client=client)).role == "strong"
    assert llm_server.count("fast-model") == 1  # the function classifier made no call


async def test_ensemble_majority_and_failed_member(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("strong-model", [Answer("Paris")])
    llm_server.script("fast-model", [Answer("paris.")])
    llm_server.set_default("backup-model", Status(400))
    result = await Ensemble(roles=["strong", "fast", "backup"]).run("Capital?", client=client)
    assert result.content == "Paris" and result.confidence == 1.0
    assert "backup" in result.details["failed"] and "failed: ['backup']" in result.reason
    llm_server.script("strong-model", [Answer("Paris")])
    llm_server.script("fast-model", [Answer("Lyon")])
    llm_server.set_default("backup-model", Answer("paris"))
    result = await Ensemble(roles=["strong", "fast", "backup"]).run("Capital?", client=client)
    assert result.content == "Paris" and result.confidence == pytest.approx(2 / 3)
    assert result.details["votes"] == {"PARIS": 2, "LYON": 1}


async def test_ensemble_custom_aggregator(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("strong-model", [Answer("short")])
    llm_server.script("fast-model", [Answer("a much longer answer")])
    result = await Ensemble(roles=["strong", "fast"],
                            aggregate=lambda calls: (min((c.text for c in calls), key=len), 0.5)
                            ).run("?", client=client)
    assert (result.content, result.confidence, result.role) == ("short", 0.5, "strong")


async def test_verifier_schema_check_escalates_then_passes(llm_server: LLMTestServer,
                                                           client: Client) -> None:
    llm_server.script("fast-model", [Answer("not json")])
    llm_server.script("strong-model", [Answer('{"answer": 4}')])
    schema = {"type": "object", "required": ["answer"]}
    result = await Verifier(generate="fast", escalate=["strong"], check=schema).run("2+2?", client=client)
    assert result.content == '{"answer": 4}' and result.role == "strong" and result.escalated
    assert result.details["passed"] and [a["passed"] for a in result.details["attempts"]] == [False, True]
    retry = llm_server.requests[-1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "not json"} and "did not pass" in retry[-1]["content"]


async def test_verifier_is_bounded_by_attempts_and_cost(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.set_default("fast-model", Answer("bad", input_tokens=1000, output_tokens=1000))
    llm_server.set_default("strong-model", Answer("bad too"))
    result = await Verifier(generate="fast", escalate=["strong"], check=lambda t: t == "good",
                            retries=5, max_attempts=3).run("?", client=client)
    assert not result.details["passed"] and len(result.details["attempts"]) == 3
    assert "3 attempt(s) used (max 3)" in result.reason
    llm_server.reset()
    llm_server.set_default("fast-model", Answer("bad", input_tokens=1000, output_tokens=1000))
    capped = Verifier(generate="fast", escalate=["strong"], check=lambda t: False, retries=5,
                      max_attempts=10, max_cost_usd=0.005)
    result = await capped.run("?", client=client)
    assert "cost limit $0.005 reached" in result.reason
    assert llm_server.count("fast-model") == 2  # $0.003 per call: the third would pass the limit
    with pytest.raises(ValueError, match="no answer passed"):
        await Verifier(generate="fast", escalate=[], check=lambda t: False, max_attempts=1,
                       on_fail="raise").run("?", client=client)


async def test_verifier_with_a_verifier_role(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("meh")])
    llm_server.script("backup-model", [Answer("3"), Answer("9")])
    llm_server.script("strong-model", [Answer("great answer")])
    result = await Verifier(generate="fast", escalate=["strong"], check="backup", min_score=7,
                            feedback=False).run("Explain", client=client)
    assert result.content == "great answer"
    assert "scored 9/10" in result.reason


async def test_cost_gate_passes_downgrades_and_refuses(llm_server: LLMTestServer, client: Client) -> None:
    cheap_enough = await CostGate(role="strong", limit_usd=1.0, max_tokens=100).run("hi", client=client)
    assert cheap_enough.role == "strong" and not cheap_enough.details["refused"]
    down = await CostGate(role="strong", limit_usd=0.01, downgrade_to="fast", max_tokens=1000
                          ).run("hi", client=client)
    assert down.role == "fast" and down.details["downgraded"] and "downgraded to 'fast'" in down.reason
    assert llm_server.count("strong-model") == 1
    refused = await CostGate(role="strong", limit_usd=0.01, max_tokens=1000).run("hi", client=client)
    assert refused.content is None and refused.details["refused"]
    assert "refused" in refused.reason and "strong: $0.03" in refused.reason
    assert llm_server.count("strong-model") == 1
    unknown = await CostGate(role="t/mystery-model", limit_usd=1.0).run("hi", client=client)
    assert unknown.details["refused"] and "unknown price" in unknown.reason


async def test_pattern_as_graph_node(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("maybe")])
    llm_server.script("strong-model", [Answer("sure", input_tokens=10, output_tokens=10)])
    with GraphNode(name="with-cascade") as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": "{q}", "q": PARENT["q"]})
        answer = Cascade(name="answer", cheap="fast", strong="strong", threshold=0.9999,
                         inputs={"messages": prompt["messages"]})
        answer["content"] >> PARENT["response"]
        answer["reason"] >> PARENT["why"]
        START >> prompt >> answer >> END
    result = await Engine(g, client=client).run(q="?")
    assert result["response"] == "sure" and "escalated" in result["why"]
    assert result.nodes["answer"].model_used == "t/strong-model"
    assert result.nodes["answer"].kind == "pattern" and result.nodes["answer"].cost_usd is not None


async def test_pattern_from_flow_file_config(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("Paris")])
    llm_server.script("strong-model", [Answer("Paris")])
    module = IRModule(name="flow", models=[], nodes=[
        IRNode(START_ID, "entry"),
        IRNode("vote", "pattern", config={"pattern": "ensemble", "roles": ["fast", "strong"]},
               inputs={"messages": IRRef("__parent__", "q")}, outputs={"content": "answer"}),
        IRNode(END_ID, "exit")], edges=[IREdge(START_ID, "vote"), IREdge("vote", END_ID)])
    with pytest.raises(GraphBuildError, match="node 'vote'.*bind_patterns"):
        Engine(module, client=client)  # the engine does not build patterns itself
    result = await Engine(bind_patterns(module), client=client).run(q="Capital of France?")
    assert result["answer"] == "Paris"
    assert result.node_outputs["vote"]["confidence"] == 1.0


async def test_cascade_with_schema_signal(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("fast-model", [Answer("{broken")])
    llm_server.script("strong-model", [Answer('{"ok": true}')])
    result = await Cascade(cheap="fast", strong="strong", signal=SchemaValid({"type": "object"}),
                           threshold=1.0).run("json please", client=client)
    assert result.role == "strong" and "schema confidence 0.000 < threshold 1" in result.reason
