"""Live routing end to end: outcomes -> `tierflow route fit` -> a routed role -> `tierflow call`.

The router file is fitted by the real CLI on a small long-format table where the cheap model
answers arithmetic correctly and fails at poems; the call goes through the real call layer to
the loopback test server, and the decision is recorded in the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tierflow.calls import Client
from tierflow.patterns import Cascade
from tierflow.patterns.confidence import SchemaValid
from tierflow.testing import LLMTestServer

_MATH = ["What is {a} plus {b}?", "Compute {a} times {b}.", "What is {a} minus {b}?"]
_POEM = ["Write a poem about {w}.", "Compose a sonnet on {w}.", "Write verses about {w} at night."]
_WORDS = ["the sea", "autumn", "a lighthouse", "the moon", "old trains", "winter", "a garden", "rain"]


def _outcomes(path: Path) -> None:
    rows = []
    for i in range(24):
        math = _MATH[i % 3].format(a=i + 3, b=2 * i + 1)
        poem = _POEM[i % 3].format(w=_WORDS[i % len(_WORDS)])
        for pid, prompt, cheap_score in ((f"m{i}", math, 1.0), (f"p{i}", poem, 0.0)):
            rows.append({"prompt_id": pid, "prompt": prompt, "model": "cheap", "score": cheap_score,
                         "cost": 0.0001})
            rows.append({"prompt_id": pid, "prompt": prompt, "model": "strong", "score": 1.0, "cost": 0.01})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierflow.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def server():
    llm_server = LLMTestServer.start_in_thread()
    yield llm_server
    llm_server.stop()


def _routed_config(tmp_path: Path, server: LLMTestServer) -> Path:
    _outcomes(tmp_path / "outcomes.jsonl")
    fit = _cli("route", "fit", str(tmp_path / "outcomes.jsonl"), "-o", str(tmp_path / "auto.json"),
               "--kind", "knn", "--embedder", "hashing", "--split", "all", "--target-quality", "1.0")
    assert fit.returncode == 0, fit.stderr
    (tmp_path / "tierflow.yaml").write_text(f"""
providers:
  srv: {{kind: openai, base_url: "{server.base_url}/v1", api_key: test}}
models:
  - {{role: primary, ref: srv, model: big-model}}
  - {{role: fast, ref: srv, model: small-model}}
  - {{role: auto, router: auto.json, candidates: [fast, primary], models: {{cheap: fast, strong: primary}}}}
prices:
  "srv/*": {{input_per_mtok: 1, output_per_mtok: 2}}
""", encoding="utf-8")
    return tmp_path / "tierflow.yaml"


def test_call_on_a_routed_role_dispatches_by_the_router(tmp_path: Path, server: LLMTestServer) -> None:
    config = _routed_config(tmp_path, server)
    answers = {}
    for name, prompt in (("math", "What is 40 plus 7?"), ("poem", "Write a poem about the harbour.")):
        out = _cli("call", "--config", str(config), "--role", "auto", "--json", prompt)
        assert out.returncode == 0, out.stderr
        answers[name] = json.loads(out.stdout)
    assert answers["math"]["model_used"] == "srv/small-model"
    assert answers["poem"]["model_used"] == "srv/big-model"
    for result in answers.values():
        decision = result["decision"]
        assert result["role"] == "auto"
        assert {decision["chosen_role"], decision["runner_up"]} == {"fast", "primary"}
        assert 0.0 <= decision["predicted_quality"] <= 1.0 and decision["predicted_cost"] > 0
    assert server.count("small-model") == 1 and server.count("big-model") == 1


async def test_cascade_routing_starts_from_the_routers_choice(tmp_path: Path) -> None:
    async with LLMTestServer() as llm_server:
        config = _routed_config(tmp_path, llm_server)
        # the confidence signal: the answer must be a JSON object (the test server's echo is not)
        cascade = Cascade(roles=["fast", "primary"], start_from="auto",
                          signal=SchemaValid({"type": "object"}))
        async with Client.from_config(config) as client:
            math = await cascade.run("What is 40 plus 7?", client=client)
            poem = await cascade.run("Write a poem about the harbour.", client=client)
    # arithmetic: the router picks the cheap role, its answer fails the check, the cascade escalates
    assert math.details["decision"]["chosen_role"] == "fast"
    assert [c.model_used for c in math.calls] == ["srv/small-model", "srv/big-model"]
    assert math.escalated and "router 'auto' chose 'fast'" in math.reason
    # a poem: the router picks the strong role and the cascade starts there (one call, no cheap try)
    assert poem.details["decision"]["chosen_role"] == "primary"
    assert [c.model_used for c in poem.calls] == ["srv/big-model"] and not poem.escalated
    assert llm_server.count("small-model") == 1 and llm_server.count("big-model") == 2
