"""End to end: a flow run's and a gateway request's spans arrive in a real Arize Phoenix with their
tree, model names and token counts as Phoenix shows them, and tierflow's cost attribute on them.

Phoenix runs from its own virtualenv (``scripts/phoenix_venv.sh``, cached under $TIERFLOW_HOME), on
127.0.0.1, once for this module; the spans are read back through Phoenix's REST API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.engine import Engine
from tierflow.gateway import GatewaySettings
from tierflow.gateway.core import Gateway
from tierflow.gateway.server import GatewayServer
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode, PromptNode
from tierflow.testing import Answer, LLMTestServer
from tierflow.tracing import OTelTracer

from ._phoenix import Phoenix, phoenix_python, start_phoenix

pytestmark = pytest.mark.slow

CONFIG = """
providers:
  up: {{kind: openai, base_url: "{base}/v1", api_key: upstream-key}}
models:
  - {{role: fast, ref: up, model: gpt-4o-mini}}
  - {{role: strong, ref: up, model: gpt-4o}}
prices:
  up/gpt-4o-mini: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}
  up/gpt-4o: {{input_per_mtok: 2.5, output_per_mtok: 10}}
"""


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    python = phoenix_python()
    with start_phoenix(python, tmp_path_factory.mktemp("phoenix")) as px:
        print(f"\nPhoenix answered {px.startup_s:.1f} s after its start")
        yield px


def _tree(spans: list[dict[str, Any]]) -> dict[str, str | None]:
    """span name -> its parent's name."""
    names = {s["context"]["span_id"]: s["name"] for s in spans}
    return {s["name"]: names.get(s["parent_id"]) if s["parent_id"] else None for s in spans}


async def test_a_flow_run_arrives_in_phoenix_as_a_tree(phoenix: Phoenix) -> None:
    async with LLMTestServer() as upstream:
        upstream.script("gpt-4o-mini", [Answer("Paris.", input_tokens=21, output_tokens=3)])
        tracer = OTelTracer(endpoint=phoenix.traces_endpoint, project="tierflow-flow", session_id="sess-1")
        client = Client(parse_config(CONFIG.format(base=upstream.base_url), source="test config"))
        with GraphNode(name="capitals") as g:
            prompt = PromptNode(name="prompt", inputs={"prompt": {"user": "Capital of {country}?"},
                                                       "country": PARENT["country"]})
            llm = LLMNode(name="answer", inputs={"messages": prompt["messages"]}, role="fast")
            START >> prompt >> llm >> END
        await Engine(g, client=client).run(country="France", tracer=tracer)
        await client.aclose()
        tracer.shutdown()
    assert tracer.stats()["exported"] == 5
    spans = phoenix.wait_for_spans("tierflow-flow", 5)
    assert _tree(spans) == {"invoke_workflow capitals": None, "prompt prompt": "invoke_workflow capitals",
                            "llm answer": "invoke_workflow capitals", "tierflow.call fast": "llm answer",
                            "chat gpt-4o-mini": "tierflow.call fast"}
    chat = next(s for s in spans if s["name"] == "chat gpt-4o-mini")
    a = chat["attributes"]
    assert chat["span_kind"] == "LLM" and a["llm.model_name"] == "gpt-4o-mini"
    assert (a["llm.token_count.prompt"], a["llm.token_count.completion"]) == (21, 3)
    assert a["gen_ai.usage.cost"] == pytest.approx(21 * 0.15e-6 + 3 * 0.6e-6)
    assert a["session.id"] == "sess-1"
    assert len({s["context"]["trace_id"] for s in spans}) == 1


async def test_a_gateway_request_arrives_in_phoenix(phoenix: Phoenix, tmp_path: Path) -> None:
    async with LLMTestServer() as upstream:
        upstream.script("gpt-4o", [Answer("42", input_tokens=40, output_tokens=2)])
        tracer = OTelTracer(endpoint=phoenix.traces_endpoint, project="tierflow-gateway")
        config = parse_config(CONFIG.format(base=upstream.base_url), source="test config")
        gateway = Gateway(config, GatewaySettings(database=str(tmp_path / "gw.sqlite")), tracers=[tracer])
        gateway.check()
        async with GatewayServer(gateway, port=0) as srv, aiohttp.ClientSession() as http:
            async with http.post(f"{srv.base_url}/v1/chat/completions",
                                 json={"model": "strong", "messages": [{"role": "user", "content": "6x7?"}]}) as r:
                assert r.status == 200
                body = await r.json()
        tracer.shutdown()
    assert body["model"] == "up/gpt-4o"
    spans = phoenix.wait_for_spans("tierflow-gateway", 3)  # the request's SERVER span is the call's parent
    assert _tree(spans) == {"POST /v1/chat/completions": None, "tierflow.call strong": "POST /v1/chat/completions",
                            "chat gpt-4o": "tierflow.call strong"}
    a = next(s for s in spans if s["name"] == "chat gpt-4o")["attributes"]
    assert a["llm.model_name"] == "gpt-4o" and a["gen_ai.request.model"] == "gpt-4o"
    assert (a["llm.token_count.prompt"], a["llm.token_count.completion"]) == (40, 2)
    assert a["gen_ai.usage.cost"] == pytest.approx(40 * 2.5e-6 + 2 * 10e-6)
    assert a["gen_ai.provider.name"] == "up" and a["server.address"] == "127.0.0.1"

