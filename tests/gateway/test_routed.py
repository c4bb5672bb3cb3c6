"""A routed role through the gateway: the router's decision in headers, the body and the final SSE chunk.

The router is fitted by the real CLI (``tierflow route fit``) on a small outcome table where the
cheap model answers arithmetic and fails at poems.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openai

from tierflow.config import parse_config
from tierflow.gateway import Gateway, GatewayServer, GatewaySettings
from tierflow.testing import LLMTestServer


def _fit_router(tmp_path: Path) -> Path:
    rows = []
    for i in range(24):
        math, poem = f"What is {i + 3} plus {2 * i + 1}?", f"Write a poem about the sea number {i}."
        for pid, prompt, cheap in ((f"m{i}", math, 1.0), (f"p{i}", poem, 0.0)):
            rows.append({"prompt_id": pid, "prompt": prompt, "model": "cheap", "score": cheap, "cost": 0.0001})
            rows.append({"prompt_id": pid, "prompt": prompt, "model": "strong", "score": 1.0, "cost": 0.01})
    (tmp_path / "outcomes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fit = subprocess.run([sys.executable, "-m", "tierflow.cli", "route", "fit", str(tmp_path / "outcomes.jsonl"),
                          "-o", str(tmp_path / "auto.json"), "--kind", "knn", "--embedder", "hashing",
                          "--split", "all", "--target-quality", "1.0"], capture_output=True, text=True, timeout=300)
    assert fit.returncode == 0, fit.stderr
    return tmp_path / "auto.json"


async def test_routed_role_reports_its_decision(tmp_path: Path) -> None:
    router = _fit_router(tmp_path)
    async with LLMTestServer() as upstream:
        config = parse_config(f"""
providers:
  t: {{kind: openai, base_url: "{upstream.base_url}/v1", api_key: k}}
models:
  - {{role: primary, ref: t, model: big-model}}
  - {{role: fast, ref: t, model: small-model}}
  - {{role: auto, router: "{router}", candidates: [fast, primary], models: {{cheap: fast, strong: primary}}}}
prices:
  "t/*": {{input_per_mtok: 1, output_per_mtok: 2}}
""", source="routed config")
        gateway = Gateway(config, GatewaySettings(database=str(tmp_path / "gw.sqlite")))
        gateway.check()
        async with GatewayServer(gateway, port=0) as srv:
            client = openai.AsyncOpenAI(base_url=srv.base_url + "/v1", api_key="unused", max_retries=0)
            listed = {m.id: m.model_extra for m in (await client.models.list()).data}
            assert listed["auto"]["kind"] == "routed_role" and listed["auto"]["candidates"] == ["fast", "primary"]
            raw = await client.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": "What is 40 plus 7?"}])
            assert raw.parse().model == "t/small-model"
            assert raw.headers["x-tierflow-role"] == "auto"
            assert raw.headers["x-tierflow-route-chosen"] == "fast"
            assert raw.headers["x-tierflow-route-runner-up"] == "primary"
            assert 0 <= float(raw.headers["x-tierflow-route-predicted-quality"]) <= 1
            assert raw.parse().model_extra["tierflow"]["decision"]["chosen"] == "fast"
            raw_stream = await client.chat.completions.with_raw_response.create(
                model="auto", stream=True, messages=[{"role": "user", "content": "Write a poem about the harbour."}])
            # the decision is known when the stream commits: it travels in the stream's headers too
            assert raw_stream.headers["x-tierflow-route-chosen"] == "primary"
            assert raw_stream.headers["x-tierflow-model"] == "t/big-model"
            stream = raw_stream.parse()
            chunks = [c async for c in stream]
            assert {c.model for c in chunks} == {"t/big-model"}
            assert chunks[-1].model_extra["tierflow"]["decision"]["chosen"] == "primary"
            await client.close()
