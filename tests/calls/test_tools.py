"""Tool calling through the call layer, against the test server speaking each provider's format:
OpenAI's ``tools`` / ``tool_choice`` in, ``CallResult.tool_calls`` and stream deltas out, and the
tool-result round trip mapped to Anthropic tool use and Gemini function calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import AllTargetsFailedError, BadRequestError
from tierflow.testing import LLMTestServer

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {
             "type": "object", "properties": {"zone": {"type": "string"}}}}}]
ARGS = {"city": "text", "days": 1}  # what the test server makes of the schema


@pytest.fixture
async def client() -> AsyncIterator[tuple[Client, LLMTestServer]]:
    async with LLMTestServer() as srv:
        config = parse_config(f"""
providers:
  o: {{kind: openai, base_url: "{srv.base_url}/v1", api_key: k}}
  a: {{kind: anthropic, base_url: "{srv.base_url}", api_key: k}}
  g: {{kind: gemini, base_url: "{srv.base_url}", api_key: k}}
  l: {{kind: local}}
models:
  - {{role: openai, ref: o, model: m}}
  - {{role: anthropic, ref: a, model: m}}
  - {{role: gemini, ref: g, model: m}}
  - {{role: local, ref: l, model: smollm2-135m-instruct}}
reliability: {{max_retries: 0}}
prices: {{"o/m": {{input_per_mtok: 1, output_per_mtok: 1}}, "a/m": {{input_per_mtok: 1, output_per_mtok: 1}},
          "g/m": {{input_per_mtok: 1, output_per_mtok: 1}}}}
""")
        async with Client(config) as c:
            yield c, srv


@pytest.mark.parametrize("role", ["openai", "anthropic", "gemini"])
async def test_a_tool_call_comes_back_plain_and_streamed(client: tuple[Client, LLMTestServer], role: str) -> None:
    c, _ = client
    result = await c.acall(role, "weather in Paris?", tools=TOOLS)
    assert result.finish_reason == "tool_calls" and result.text == ""
    assert result.tool_calls is not None and len(result.tool_calls) == 1
    call = result.tool_calls[0]
    assert call["type"] == "function" and call["id"] and call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == ARGS
    stream = c.astream(role, "weather in Paris?", tools=TOOLS)
    deltas = [d for chunk in [ch async for ch in stream] for d in chunk.tool_calls or []]
    assert deltas and all(d["index"] == 0 for d in deltas)
    assert deltas[0]["function"]["name"] == "get_weather" and deltas[0]["id"] == call["id"]
    assert json.loads("".join(d["function"].get("arguments", "") for d in deltas)) == ARGS
    assert stream.result is not None and stream.result.tool_calls == [call]
    assert stream.result.finish_reason == "tool_calls"


@pytest.mark.parametrize("role", ["openai", "anthropic", "gemini"])
async def test_a_named_tool_choice_is_honoured(client: tuple[Client, LLMTestServer], role: str) -> None:
    c, _ = client
    result = await c.acall(role, "time?", tools=TOOLS,
                           tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert result.tool_calls is not None and result.tool_calls[0]["function"]["name"] == "get_time"
    result = await c.acall(role, "time?", tools=TOOLS, tool_choice="none")
    assert result.tool_calls is None and result.text == "echo: time?"


async def test_the_tool_round_trip_in_each_wire_format(client: tuple[Client, LLMTestServer]) -> None:
    c, srv = client
    sent = {}
    for role in ("openai", "anthropic", "gemini"):
        first = await c.acall(role, "weather in Paris?", tools=TOOLS)
        messages = [{"role": "user", "content": "weather in Paris?"},
                    {"role": "assistant", "content": None, "tool_calls": first.tool_calls},
                    {"role": "tool", "tool_call_id": first.tool_calls[0]["id"], "content": "sunny"}]  # type: ignore[index]
        answer = await c.acall(role, messages, tools=TOOLS)
        assert answer.tool_calls is None and answer.finish_reason == "stop"
        sent[role] = srv.received[-1].body
    assert sent["openai"]["messages"][2] == {"role": "tool", "tool_call_id": "call_test", "content": "sunny"}
    assert sent["openai"]["tools"] == TOOLS
    anthropic = sent["anthropic"]
    assert anthropic["messages"][1]["content"] == [{"type": "tool_use", "id": "toolu_test", "name": "get_weather",
                                                    "input": ARGS}]
    assert anthropic["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_test", "content": "sunny"}]}
    assert anthropic["tools"][0] == {"name": "get_weather", "description": "The weather of a city",
                                     "input_schema": TOOLS[0]["function"]["parameters"]}
    gemini = sent["gemini"]
    assert gemini["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather",
                                                                                  "args": ARGS}}]}
    assert gemini["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}}]}
    assert gemini["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]["city"] == {"type": "STRING"}


async def test_tool_choice_maps_to_each_providers_own_form(client: tuple[Client, LLMTestServer]) -> None:
    c, srv = client
    await c.acall("anthropic", "x", tools=TOOLS, tool_choice="required")
    assert srv.received[-1].body["tool_choice"] == {"type": "any"}
    await c.acall("gemini", "x", tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert srv.received[-1].body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY",
                                                                             "allowedFunctionNames": ["get_time"]}}


async def test_local_models_refuse_tools_clearly(client: tuple[Client, LLMTestServer]) -> None:
    c, _ = client
    with pytest.raises(AllTargetsFailedError) as err:
        await c.acall("local", "x", tools=TOOLS)
    assert isinstance(err.value.last_error, BadRequestError)
    assert "local models do not take tools" in str(err.value)


async def test_anthropic_refuses_tools_with_a_json_response_format(client: tuple[Client, LLMTestServer]) -> None:
    c, srv = client
    with pytest.raises(AllTargetsFailedError, match="cannot be combined"):
        await c.acall("anthropic", "x", tools=TOOLS, response_format={"type": "json_object"})
    assert srv.received == []
