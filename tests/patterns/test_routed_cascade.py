"""RoutedCascade: a cascade router fitted on recorded outcomes runs live through the call layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import AllTargetsFailedError
from tierflow.patterns import RoutedCascade, pattern_from_config
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.fit.train import fit_router
from tierflow.routing.io import save_router
from tierflow.testing import Answer, LLMTestServer, Status


def _agreement_table(n: int = 300, seed: int = 1) -> OutcomeTable:
    """Two cheap models right exactly when they agree (else both wrong), a strong one always right."""
    rng = np.random.default_rng(seed)
    prompts, responses, scores = [], [], []
    for i in range(n):
        truth = "ABCD"[rng.integers(4)]
        wrong = [c for c in "ABCD" if c != truth]
        a, b = (wrong[0], wrong[1]) if rng.random() < 0.4 else (truth, truth)
        prompts.append(f"question {i} about topic {rng.integers(50)}? Options A B C D")
        responses.append([a, b, truth])
        scores.append([float(a == truth), float(b == truth), 1.0])
    return OutcomeTable([f"q{i}" for i in range(n)], prompts, ["mcq"] * n, ["cheap1", "cheap2", "strong"],
                        np.array(scores), np.tile([1e-4, 2e-4, 5e-3], (n, 1)), responses)

_CONFIG = """
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: test}}
models:
  - {{role: strong, ref: t, model: strong-model}}
  - {{role: small1, ref: t, model: small1-model}}
  - {{role: small2, ref: t, model: small2-model}}
  - {{role: auto, router: {router}, candidates: [small1, small2, strong],
      models: {{cheap1: small1, cheap2: small2, strong: strong}}, target: {{quality: 0.99}}}}
prices:
  "t/*": {{input_per_mtok: 1, output_per_mtok: 2}}
reliability: {{max_retries: 0}}
"""


@pytest.fixture(scope="module")
def router_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_router(fit_router(_agreement_table(), "cascade", embedder="hashing"),
                       tmp_path_factory.mktemp("router") / "cascade.json")


@pytest.fixture
async def routed_client(llm_server: LLMTestServer, router_file: Path):
    path = router_file
    client = Client(parse_config(_CONFIG.format(base=llm_server.base_url, router=path), source="test config"))
    yield client
    await client.aclose()


async def test_agreeing_cheap_answers_are_accepted_without_the_strong_model(llm_server: LLMTestServer,
                                                                            routed_client: Client) -> None:
    llm_server.script("small1-model", [Answer("B")])
    llm_server.script("small2-model", [Answer("B")])
    result = await RoutedCascade(routed="auto").run("question 7 about topic 3? Options A B C D",
                                                   client=routed_client)
    assert result.content == "B" and result.role in ("small1", "small2")
    assert result.details["consulted"] == ["small1", "small2"] and result.escalated
    assert llm_server.count("strong-model") == 0
    assert result.details["steps"][-1]["confidence"] >= result.details["steps"][-1]["threshold"]
    assert "acceptance score" in result.reason and ">= threshold" in result.reason
    assert len(result.calls) == 2 and result.cost_usd == pytest.approx(sum(c.cost_usd for c in result.calls))


async def test_disagreeing_cheap_answers_escalate_to_the_final_model(llm_server: LLMTestServer,
                                                                     routed_client: Client) -> None:
    llm_server.script("small1-model", [Answer("A")])
    llm_server.script("small2-model", [Answer("C")])
    llm_server.script("strong-model", [Answer("D")])
    result = await RoutedCascade(routed="auto").run("question 8 about topic 5? Options A B C D",
                                                   client=routed_client)
    assert (result.content, result.role) == ("D", "strong")
    assert result.details["consulted"] == ["small1", "small2", "strong"]
    assert [llm_server.count(m) for m in ("small1-model", "small2-model", "strong-model")] == [1, 1, 1]
    escalation = result.details["steps"][-2]
    assert escalation["action"] == "consult" and escalation["role"] == "strong"
    assert escalation["confidence"] < escalation["threshold"]


async def test_a_failing_cheap_role_is_consulted_with_no_answer_and_the_chain_goes_on(
        llm_server: LLMTestServer, routed_client: Client) -> None:
    llm_server.set_default("small1-model", Status(503))
    llm_server.script("small2-model", [Answer("B")])
    llm_server.script("strong-model", [Answer("D")])
    result = await RoutedCascade(routed="auto").run("question 8 about topic 5? Options A B C D",
                                                   client=routed_client)
    # one answer and one failure are no agreement: the strong model answers
    assert (result.content, result.role) == ("D", "strong")
    assert result.details["consulted"] == ["small1", "small2", "strong"] and result.details["failed"] == ["small1"]
    errors = {s["role"]: s.get("error") for s in result.details["steps"] if s["action"] == "consult"}
    assert "ServerError" in errors["small1"] and errors["small2"] is None and errors["strong"] is None
    assert "['small1'] failed" in result.reason
    assert len(result.calls) == 2 and result.cost_usd == pytest.approx(sum(c.cost_usd for c in result.calls))


async def test_a_failing_final_role_answers_with_the_last_stage_that_answered(
        llm_server: LLMTestServer, routed_client: Client) -> None:
    llm_server.script("small1-model", [Answer("A")])
    llm_server.script("small2-model", [Answer("C")])
    llm_server.set_default("strong-model", Status(500))
    result = await RoutedCascade(routed="auto").run("question 8 about topic 5? Options A B C D",
                                                   client=routed_client)
    last_stage = result.details["consulted"][1]
    assert result.details["failed"] == ["strong"] and result.details["consulted"][2] == "strong"
    assert result.role == last_stage and result.content == {"small1": "A", "small2": "C"}[last_stage]
    assert llm_server.count("strong-model") == 1


async def test_when_every_role_fails_the_error_lists_each_attempt(llm_server: LLMTestServer,
                                                                  routed_client: Client) -> None:
    for model in ("small1-model", "small2-model", "strong-model"):
        llm_server.set_default(model, Status(503))
    with pytest.raises(AllTargetsFailedError) as info:
        await RoutedCascade(routed="auto").run("question 8 about topic 5? Options A B C D", client=routed_client)
    message = str(info.value)
    assert all(m in message for m in ("small1-model", "small2-model", "strong-model")), message


async def test_a_plain_role_is_refused_and_flow_files_can_name_the_pattern(routed_client: Client) -> None:
    with pytest.raises(ValueError, match="'strong' is not a routed role"):
        await RoutedCascade(routed="strong").run("hello", client=routed_client)
    node = pattern_from_config({"pattern": "routed_cascade", "routed": "auto"})
    assert isinstance(node, RoutedCascade) and node.ir_config() == {"pattern": "routed_cascade", "routed": "auto"}


async def test_a_chain_model_without_a_role_is_named(llm_server: LLMTestServer, router_file: Path) -> None:
    from tierflow.errors import RoutingError

    config = _CONFIG.format(base=llm_server.base_url, router=router_file).replace(
        "candidates: [small1, small2, strong]", "candidates: [small1, strong]").replace(
        "models: {cheap1: small1, cheap2: small2, strong: strong}", "models: {cheap1: small1, strong: strong}")
    client = Client(parse_config(config, source="test config"))
    try:
        with pytest.raises(RoutingError, match=r"consults \['cheap2'\], which map to no candidate role"):
            await RoutedCascade(routed="auto").run("question 9 about topic 1? Options A B C D", client=client)
    finally:
        await client.aclose()
