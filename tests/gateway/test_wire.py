"""Request checking: what the gateway accepts, and every refusal naming its parameter."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tierflow.errors import GatewayError
from tierflow.gateway import GatewaySettings
from tierflow.gateway.wire import parse_chat

MSG = [{"role": "user", "content": "hi"}]


def _refusal(body: dict[str, Any], max_messages: int = 10) -> GatewayError:
    with pytest.raises(GatewayError) as err:
        parse_chat(body, max_messages)
    assert err.value.status == 400
    return err.value


def test_a_full_request_becomes_client_arguments() -> None:
    call = parse_chat({"model": "fast", "messages": [{"role": "developer", "content": "be brief"},
                                                     {"role": "user", "content": [{"type": "text", "text": "a"},
                                                                                  {"type": "text", "text": "b"}]}],
                       "stream": True, "stream_options": {"include_usage": True}, "temperature": 0, "n": 1,
                       "max_completion_tokens": 5, "stop": "x", "seed": 3, "logprobs": True, "top_logprobs": 2,
                       "response_format": {"type": "json_object"}, "user": "u1", "top_p": 1}, 10)
    assert call.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a\nb"}]
    assert call.stream and call.include_usage and call.user == "u1"
    assert call.options == {"temperature": 0.0, "max_tokens": 5, "stop": ["x"], "seed": 3, "logprobs": True,
                            "top_logprobs": 2, "response_format": {"type": "json_object"}, "top_p": 1.0}


def test_sampling_parameters_are_passed_to_the_library_by_their_openai_names() -> None:
    call = parse_chat({"model": "fast", "messages": [{"role": "user", "content": "a"}], "top_p": 0.5,
                       "frequency_penalty": -1, "presence_penalty": 1.5}, 10)
    assert call.options == {"top_p": 0.5, "frequency_penalty": -1.0, "presence_penalty": 1.5}


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"n": 2}, "n", "must be 1"),
    ({"tools": [{"type": "function"}]}, "tools[0]", "must be {'type': 'function'"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name", "letters, digits"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function",
      "function": {"name": "g"}}}, "tool_choice", "naming one of the tools ['f']"),
    ({"tool_choice": "required"}, "tool_choice", "needs 'tools'"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls", "may only be true"),
    ({"functions": [{"name": "f"}]}, "functions", "send 'tools'"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", "is required"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function",
      "function": {"name": "f", "arguments": "{"}}]}]}, "messages[0].tool_calls[0].function.arguments", "JSON"),
    ({"top_p": 1.5}, "top_p", "number from 0 to 1"),
    ({"presence_penalty": 3}, "presence_penalty", "number from -2 to 2"),
    ({"logit_bias": {"1": 2}}, "logit_bias", "Unrecognized request argument supplied: logit_bias"),
    ({"temperature": "hot"}, "temperature", "number from 0 to 2"),
    ({"temperature": 3}, "temperature", "number from 0 to 2"),
    ({"max_tokens": 0}, "max_tokens", "integer of at least 1"),
    ({"max_tokens": True}, "max_tokens", "integer"),
    ({"max_tokens": 5, "max_completion_tokens": 6}, "max_tokens", "not both"),
    ({"stream": "yes"}, "stream", "true or false"),
    ({"stream_options": {"include_usage": True}}, "stream_options", "only allowed when 'stream' is true"),
    ({"stream": True, "stream_options": {"other": 1}}, "stream_options", "only 'include_usage'"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
    ({"top_logprobs": 3}, "top_logprobs", "needs 'logprobs'"),
    ({"response_format": {"type": "yaml"}}, "response_format.type", "json_schema"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, "response_format.json_schema",
     "'name'"),
    ({"user": 5}, "user", "string"),
    ({"model": ""}, "model", "required"),
    ({"messages": []}, "messages", "non-empty list"),
    ({"messages": "hi"}, "messages", "non-empty list"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "must be one of"),
    ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role", "must be one of"),
    ({"messages": [{"role": "user"}]}, "messages[0].content", "required"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "string or a list"),
    ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name", "not supported"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content[0].type", "'input_audio' are not supported"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]},
     "messages[0].content[0].image_url.url", "http(s) URL"),
    ({"messages": [{"role": "user", "content": "x"}] * 11}, "messages", "at most 10"),
])
def test_refusals_name_the_parameter(body: dict[str, Any], param: str, words: str) -> None:
    err = _refusal({"model": "fast", "messages": MSG, **body})
    assert err.param == param
    assert words in str(err)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert _refusal([1, 2]).code == "invalid_json"  # type: ignore[arg-type]


async def _post(url: str, data: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/v1/chat/completions", data=data,
                             headers={"Content-Type": "application/json", **(headers or {})}) as resp:
            return resp.status, await resp.json()


async def test_malformed_json_and_oversize_bodies_get_openai_errors(gateway_factory, upstream) -> None:
    srv = await gateway_factory(GatewaySettings(max_body_bytes=2048))
    status, body = await _post(srv.base_url, b'{"model": "fast", "messages": [')
    assert status == 400 and body["error"]["code"] == "invalid_json"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, body = await _post(srv.base_url, b"[" * 100_000 + b"]" * 100_000)
    assert status == 413
    big = ('{"model": "fast", "messages": [{"role": "user", "content": "%s"}]}' % ("x" * 5000)).encode()
    status, body = await _post(srv.base_url, big)
    assert status == 413 and body["error"]["code"] == "request_too_large" and "2048 bytes" in body["error"]["message"]
    deep = b'{"model": "fast", "messages": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    status, body = await _post(srv.base_url, deep)
    assert status == 400
    status, body = await _post(srv.base_url, b'{"model": "fast", "messages": [{"role": "user", "content": "x"}]}',
                               {"x-request-id": "bad id with spaces"})
    assert status == 400 and body["error"]["param"] == "x-request-id"
    assert upstream.count() == 0
