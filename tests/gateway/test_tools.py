"""Tools through the gateway with the official OpenAI SDK: a tool call plain and streamed (the
SDK's own stream accumulation), the tool-result round trip, and tool choices."""

from __future__ import annotations

import json

import openai

from tierflow.testing import LLMTestServer

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]
ASK = [{"role": "user", "content": "weather in Paris?"}]


async def test_a_tool_call_plain_and_streamed(sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    answer = await sdk.chat.completions.create(model="fast", messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "text"}
    assert upstream.received[-1].body["tools"] == TOOLS
    async with sdk.beta.chat.completions.stream(model="fast", messages=ASK, tools=TOOLS) as stream:  # type: ignore[arg-type]
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    streamed = final.choices[0]
    assert streamed.finish_reason == "tool_calls"
    assert streamed.message.tool_calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in streamed.message.tool_calls] == \
        [(call.id, "get_weather", call.function.arguments)]


async def test_the_tool_result_round_trip_and_choices(sdk: openai.AsyncOpenAI, upstream: LLMTestServer) -> None:
    first = await sdk.chat.completions.create(model="fast", messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    messages = [*ASK, first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    answer = await sdk.chat.completions.create(model="fast", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.tool_calls is None
    sent = upstream.received[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}
    named = await sdk.chat.completions.create(model="fast", messages=ASK, tools=TOOLS,  # type: ignore[arg-type]
                                              tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert named.choices[0].message.tool_calls[0].function.name == "get_time"  # type: ignore[index]
    assert upstream.received[-1].body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}


async def test_a_role_on_a_provider_without_tools_refuses_them(gateway_factory, sdk_factory) -> None:
    client = sdk_factory(await gateway_factory(models_yaml="  - {role: tiny, ref: local, model: smollm2-135m-instruct}\n"))
    try:
        await client.chat.completions.create(model="tiny", messages=ASK, tools=TOOLS)  # type: ignore[arg-type]
    except openai.BadRequestError as err:
        assert err.body["code"] == "upstream_rejected" and "local models do not take tools" in err.body["message"]
    else:
        raise AssertionError("tools were not refused")
