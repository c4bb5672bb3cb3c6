"""The names a Python graph looks up are checked when the engine meets its client, before any call."""

from __future__ import annotations

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.engine import Engine
from tierflow.errors import GraphBuildError
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode, PromptNode
from tierflow.patterns import Cascade
from tierflow.testing import Answer, LLMTestServer

CONFIG = """
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: test-key}}
models:
  - {{role: main, ref: t, model: main-model}}
  - {{role: fast, ref: t, model: fast-model}}
  - {{role: embedder, ref: t, model: embed-model, modalities: [embedding]}}
reliability: {{max_retries: 0}}
"""


def graph(**llm_kwargs: object) -> GraphNode:
    with GraphNode(name="roles") as g:
        prompt = PromptNode(name="prompt", inputs={"prompt": "{query}", "query": PARENT["query"]})
        llm = LLMNode(name="llm", inputs={"messages": prompt["messages"]}, **llm_kwargs)  # type: ignore[arg-type]
        llm["model_used"] >> PARENT["model_used"]
        START >> prompt >> llm >> END
    return g


@pytest.fixture
async def client(llm_server: LLMTestServer):  # type: ignore[no-untyped-def]
    c = Client(parse_config(CONFIG.format(base=llm_server.base_url), source="test config"))
    yield c
    await c.aclose()


def problems(g: GraphNode, client: Client) -> dict[str, str]:
    with pytest.raises(GraphBuildError) as info:
        Engine(g, client=client)
    return {p.where: p.message for p in info.value.problems}


async def test_a_node_pinning_no_role_calls_the_first_entry(llm_server: LLMTestServer, client: Client) -> None:
    llm_server.script("main-model", [Answer("hi")])
    result = await Engine(graph(), client=client).run(inputs={"query": "q"})
    assert result["model_used"] == "t/main-model"


def test_primary_is_refused_when_no_entry_is_named_primary(client: Client) -> None:
    message = problems(graph(role="primary"), client)["node 'llm' llm_role"]
    assert "role 'primary' is not declared (declared: ['embedder', 'fast', 'main'])" in message


def test_an_embedding_only_role_is_a_build_error(llm_server: LLMTestServer, client: Client) -> None:
    message = problems(graph(role="embedder"), client)["node 'llm' llm_role"]
    assert "role 'embedder' has modalities ['embedding']" in message and "chat roles: ['main', 'fast']" in message
    assert llm_server.count() == 0


def test_typos_get_a_suggestion(client: Client) -> None:
    found = problems(graph(role="fsat", fallback=["nain", "opnai/gpt-4o"]), client)
    assert "did you mean 'fast'?" in found["node 'llm' llm_role"]
    assert "did you mean 'main'?" in found["node 'llm' fallback[0]"]
    assert "names provider 'opnai', which is not declared" in found["node 'llm' fallback[1]"]
    assert "did you mean 'openai'?" in found["node 'llm' fallback[1]"]


def test_pattern_roles_are_checked(client: Client) -> None:
    with GraphNode(name="cascade") as g:
        cascade = Cascade("cascade", roles=["fsat", "main"], inputs={"messages": PARENT["query"]})
        START >> cascade >> END
    assert "did you mean 'fast'?" in problems(g, client)["node 'cascade' roles[0]"]
