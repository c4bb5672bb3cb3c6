"""The role's settings in the request: system_context placed before the prompt's own system message(s),
joined into one, on every path; max_tokens unless the call sets its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tierflow.calls import Client
from tierflow.calls._request import with_system_context
from tierflow.engine import Engine
from tierflow.errors import VisionModalityError
from tierflow.graph import END, PARENT, START, GraphNode, LLMNode, PromptNode
from tierflow.testing import LLMTestServer

_JOINED = {"role": "system", "content": "Be brief.\n\nAnswer in French."}


def test_a_prompt_without_a_system_message_gets_the_context_first() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert with_system_context("Be brief.", messages) == [{"role": "system", "content": "Be brief."}, *messages]


def test_the_context_precedes_the_prompts_system_messages_in_one_message() -> None:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "Answer in French."},
                                      {"role": "system", "content": "Use one line."},
                                      {"role": "user", "content": "hi"},
                                      {"role": "system", "content": "later instruction"}]
    out = with_system_context("Be brief.", messages)
    assert out == [{"role": "system", "content": "Be brief.\n\nAnswer in French.\n\nUse one line."},
                   {"role": "user", "content": "hi"}, {"role": "system", "content": "later instruction"}]
    assert messages[0] == {"role": "system", "content": "Answer in French."}  # the caller's list is untouched


def test_an_empty_system_message_adds_nothing_but_the_context() -> None:
    out = with_system_context("Be brief.", [{"role": "system", "content": ""}, {"role": "user", "content": "x"}])
    assert out[0] == {"role": "system", "content": "Be brief."} and len(out) == 2


def test_content_parts_get_the_context_as_their_first_text_part() -> None:
    parts = [{"type": "text", "text": "Answer in French."}]
    out = with_system_context("Be brief.", [{"role": "system", "content": parts},
                                            {"role": "system", "content": "Use one line."},
                                            {"role": "user", "content": "hi"}])
    assert out[0] == {"role": "system", "content": [{"type": "text", "text": "Be brief."}, *parts,
                                                    {"type": "text", "text": "Use one line."}]}
    assert out[1:] == [{"role": "user", "content": "hi"}]


async def test_acall_and_astream_apply_the_rule(client: Client, llm_server: LLMTestServer) -> None:
    own = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "hi"}]
    await client.acall("fast", own)
    assert llm_server.requests[-1]["messages"] == [_JOINED, {"role": "user", "content": "hi"}]
    await client.astream("fast", own).collect()
    assert llm_server.requests[-1]["messages"] == [_JOINED, {"role": "user", "content": "hi"}]
    await client.acall("primary", own)  # a role without system_context sends the prompt as it is
    assert llm_server.requests[-1]["messages"] == own


async def test_fallback_targets_get_the_called_roles_context(client: Client, llm_server: LLMTestServer) -> None:
    await client.acall("fast", "hi", fallback=["primary"])
    assert llm_server.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_an_engine_llm_node_applies_the_rule(client: Client, llm_server: LLMTestServer) -> None:
    with GraphNode(name="g") as graph:
        prompt = PromptNode(name="prompt", inputs={"prompt": {"system": "Answer in French.", "user": "{q}"},
                                                   "q": PARENT["q"]})
        llm = LLMNode(name="llm", role="fast", inputs={"messages": prompt["messages"]})
        llm["content"] >> PARENT["answer"]
        START >> prompt >> llm >> END
    await Engine(graph, client=client).run(inputs={"q": "hi"})
    assert llm_server.requests[-1]["messages"] == [_JOINED, {"role": "user", "content": "hi"}]


async def test_the_roles_max_tokens_applies_unless_the_call_sets_its_own(make_client: Callable[..., Client],
                                                                         llm_server: LLMTestServer) -> None:
    client = make_client(extra="  - {role: capped, ref: srv, model: a, max_tokens: 3}")
    result = await client.acall("capped", "one two three four five")
    assert llm_server.requests[-1]["max_tokens"] == 3 and result.usage.output_tokens <= 3
    await client.astream("capped", "x").collect()
    assert llm_server.requests[-1]["max_tokens"] == 3
    await client.acall("capped", "x", max_tokens=7)
    assert llm_server.requests[-1]["max_tokens"] == 7
    await client.acall("solo", "x")  # a role without a cap sends none
    assert "max_tokens" not in llm_server.requests[-1]


async def test_image_parts_go_only_to_vision_roles_and_the_refusal_names_the_message(
        make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(extra="  - {role: eyes, ref: srv, model: v, modalities: [text, vision]}")
    image = [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}, {"role": "user", "content": image}]
    with pytest.raises(VisionModalityError, match=r"messages\[2\] has an image part, but role 'fast'") as err:
        await client.acall("fast", msgs)
    assert err.value.index == 2
    assert llm_server.requests == []
    result = await client.acall("eyes", msgs)
    assert result.model_used == "srv/v" and llm_server.requests[-1]["messages"][2]["content"] == image
