"""Embedding calls through the call layer: OpenAI-compatible and Gemini against the test server,
the local MiniLM embedder, fallbacks and breakers, and roles that cannot embed refused clearly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import AllTargetsFailedError, EmbeddingRoleError
from tierflow.testing import LLMTestServer, Status
from tierflow.testing.embeddings import vector


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Client, LLMTestServer]]:
    async with LLMTestServer() as srv:
        config = parse_config(f"""
providers:
  o: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: k}}
  g: {{kind: gemini, base_url: "{srv.base_url}", api_key: k}}
  a: {{kind: anthropic, base_url: "{srv.base_url}", api_key: k}}
  l: {{kind: local}}
models:
  - {{role: chat, ref: o, model: m}}
  - {{role: embed, ref: o, model: text-embedding-3-small, modalities: [embedding],
      fallback: [{{ref: g, model: text-embedding-004}}]}}
  - {{role: gembed, ref: g, model: text-embedding-004, modalities: [embedding]}}
  - {{role: aembed, ref: a, model: x, modalities: [embedding]}}
  - {{role: local_embed, ref: l, model: all-minilm-l6-v2, modalities: [embedding]}}
  - {{role: ab, split: [{{role: chat, weight: 1}}]}}
reliability: {{max_retries: 1, backoff_initial_s: 0.001, backoff_max_s: 0.002, cooldown: {{failures: 2, seconds: 600}}}}
prices: {{"o/text-embedding-3-small": {{input_per_mtok: 0.02, output_per_mtok: 0}}}}
""")
        async with Client(config) as c:
            yield c, srv


async def test_openai_compatible_embeddings_in_order_with_cost(setup: tuple[Client, LLMTestServer]) -> None:
    c, srv = setup
    result = await c.aembed("embed", ["first text", "second one here"])
    assert result.vectors == [vector("first text"), vector("second one here")]
    assert result.model_used == "o/text-embedding-3-small" and result.role == "embed"
    assert result.usage.input_tokens == 5 and result.cost_usd == pytest.approx(5 * 0.02 / 1e6)
    assert srv.received[-1].path == "/v1/embeddings"
    assert srv.received[-1].body == {"model": "text-embedding-3-small", "input": ["first text", "second one here"]}
    single = await c.aembed("embed", "alone")
    assert single.vectors == [vector("alone")]


async def test_gemini_embeddings_and_the_fallback(setup: tuple[Client, LLMTestServer]) -> None:
    c, srv = setup
    result = await c.aembed("gembed", ["a b", "c"])
    assert result.vectors == [vector("a b"), vector("c")] and result.usage.estimated
    assert srv.received[-1].path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    srv.set_default("text-embedding-3-small", Status(500))
    result = await c.aembed("embed", ["x"])
    assert result.model_used == "g/text-embedding-004"
    assert [a.outcome for a in result.attempts] == ["error", "error", "ok"]  # one retry, then the fallback
    again = await c.aembed("embed", ["y"])  # the breaker opened after 2 failures: skipped at once
    assert [a.outcome for a in again.attempts] == ["skipped_cooldown", "ok"]
    assert srv.count("text-embedding-3-small") == 2


async def test_roles_that_cannot_embed_are_refused(setup: tuple[Client, LLMTestServer]) -> None:
    c, srv = setup
    with pytest.raises(EmbeddingRoleError, match=r"role 'chat' has modalities \['text'\].*embedding roles: "
                                                  r"\['embed', 'gembed', 'aembed', 'local_embed'\]"):
        await c.aembed("chat", ["x"])
    with pytest.raises(EmbeddingRoleError, match="is a traffic split"):
        await c.aembed("ab", ["x"])
    with pytest.raises(AllTargetsFailedError, match="make no embeddings"):
        await c.aembed("aembed", ["x"])
    assert srv.received == []


async def test_the_local_minilm_embedder(setup: tuple[Client, LLMTestServer]) -> None:
    c, _ = setup
    result = await c.aembed("local_embed", ["the cat sat", "a cat was sitting", "stock prices fell"])
    assert len(result.vectors) == 3 and len(result.vectors[0]) == 384
    a, b, far = result.vectors
    assert sum(x * y for x, y in zip(a, b)) > sum(x * y for x, y in zip(a, far))
    assert result.cost_usd == 0.0
