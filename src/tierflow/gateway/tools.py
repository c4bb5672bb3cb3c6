"""OpenAI's tool fields on the wire, checked: ``tools``, ``tool_choice``, ``parallel_tool_calls``,
an assistant message's ``tool_calls`` and a tool message's ``tool_call_id`` (docs/gateway.md,
"Tools"). The library maps them to each provider; the gateway only checks their shape, naming the
parameter of anything wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tierflow.errors import GatewayError

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHOICES = ("auto", "none", "required")


def _bad(param: str, message: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def _tool(value: Any, where: str) -> dict[str, Any]:
    function = value.get("function") if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping) or value.get("type") != "function" or not isinstance(function, Mapping):
        raise _bad(where, f"'{where}' must be {{'type': 'function', 'function': {{'name', 'description', "
                   "'parameters'}}")
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _bad(f"{where}.function.name", f"'{where}.function.name' must be 1 to 64 letters, digits, '_' or '-'")
    out: dict[str, Any] = {"name": name}
    description = function.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise _bad(f"{where}.function.description", f"'{where}.function.description' must be a string")
        out["description"] = description
    parameters = function.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            raise _bad(f"{where}.function.parameters", f"'{where}.function.parameters' must be a JSON schema object")
        out["parameters"] = dict(parameters)
    for key in function:
        if key not in ("name", "description", "parameters", "strict"):
            raise _bad(f"{where}.function.{key}", f"'{where}.function.{key}' is not a known field", "unknown_parameter")
    return {"type": "function", "function": out}


def parse_tools(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Client`` keywords for the request's tools (none without them)."""
    raw, choice = body.get("tools"), body.get("tool_choice")
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and parallel is not True:
        raise GatewayError(400, "'parallel_tool_calls' may only be true here: not every provider can turn "
                           "parallel calls off", param="parallel_tool_calls", code="unsupported_parameter")
    if raw is None:
        if choice is not None and choice != "none":
            raise _bad("tool_choice", "'tool_choice' needs 'tools'")
        return {}
    if not isinstance(raw, list) or not raw or len(raw) > 128:
        raise _bad("tools", "'tools' must be a list of 1 to 128 function tools")
    tools = [_tool(t, f"tools[{i}]") for i, t in enumerate(raw)]
    names = [t["function"]["name"] for t in tools]
    out: dict[str, Any] = {"tools": tools}
    if choice is None:
        return out
    if isinstance(choice, str) and choice in _CHOICES:
        out["tool_choice"] = choice
        return out
    named = choice.get("function") if isinstance(choice, Mapping) and choice.get("type") == "function" else None
    if not isinstance(named, Mapping) or named.get("name") not in names:
        raise _bad("tool_choice", f"'tool_choice' must be one of {list(_CHOICES)} or {{'type': 'function', "
                   f"'function': {{'name'}}}} naming one of the tools {names}")
    out["tool_choice"] = {"type": "function", "function": {"name": named["name"]}}
    return out


def tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    """An assistant message's ``tool_calls``, checked (``arguments`` a JSON string)."""
    if not isinstance(value, list) or not value:
        raise _bad(where, f"'{where}' must be a non-empty list of tool calls")
    out = []
    for i, call in enumerate(value):
        at = f"{where}[{i}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(call.get("id"), str) or not isinstance(function, Mapping) \
                or not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            raise _bad(at, f"'{at}' must be {{'id', 'type': 'function', 'function': {{'name', 'arguments'}}}}")
        try:
            json.loads(function["arguments"])
        except ValueError:
            raise _bad(f"{at}.function.arguments", f"'{at}.function.arguments' must be a JSON string") from None
        out.append({"id": call["id"], "type": "function",
                    "function": {"name": function["name"], "arguments": function["arguments"]}})
    return out


__all__ = ["parse_tools", "tool_calls"]
