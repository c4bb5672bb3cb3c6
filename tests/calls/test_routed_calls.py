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
    srv = LLMTestServer.start_in_thread()
    yield srv
    srv.stop()


def test_call_on_a_routed_role_dispatches_by_the_router(tmp_path: Path, server: LLMTestServer) -> None:
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
    answers = {}
    for name, prompt in (("math", "What is 40 plus 7?"), ("poem", "Write a poem about the harbour.")):
        out = _cli("call", "--config", str(tmp_path / "tierflow.yaml"), "--role", "auto", "--json", prompt)
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
