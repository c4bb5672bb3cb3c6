"""OpenAI's tools in Anthropic's Messages API (README, "Tools").

``tools`` become ``{name, description, input_schema}``; ``tool_choice`` ``auto`` / ``required`` /
``none`` / a named function become ``auto`` / ``any`` / ``none`` / ``tool``; an assistant message's
``tool_calls`` become ``tool_use`` blocks and a ``tool`` message a ``tool_result`` block of a user
turn; ``tool_use`` blocks of the answer come back as OpenAI tool calls.
"""

from __future__ import annotations

import json
from typing import Any

from tierflow.errors import BadRequestError
from tierflow.types import ChatRequest, Message


def tools_body(request: ChatRequest, target: str) -> dict[str, Any]:
    """The body fields for ``request.tools`` / ``tool_choice`` (empty without tools)."""
    if not request.tools:
        return {}
    if request.response_format and request.response_format.get("type") in ("json_object", "json_schema"):
        raise BadRequestError("tools and a JSON response_format cannot be combined for Anthropic (its JSON "
                              "output is a forced tool); send one of them", target=target, status_code=400)
    tools = []
    for i, tool in enumerate(request.tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRequestError(f"tools[{i}] must be {{'type': 'function', 'function': {{'name', ...}}}}",
                                  target=target, status_code=400)
        entry: dict[str, Any] = {"name": function["name"],
                                 "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
        if function.get("description"):
            entry["description"] = function["description"]
        tools.append(entry)
    out: dict[str, Any] = {"tools": tools}
    choice = request.tool_choice
    if choice == "required":
        out["tool_choice"] = {"type": "any"}
    elif choice in ("auto", "none"):
        out["tool_choice"] = {"type": choice}
    elif isinstance(choice, dict):
        out["tool_choice"] = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return out


def message(m: Message, content: Any) -> dict[str, Any]:
    """One non-system message: tool results and assistant tool calls in Anthropic's blocks."""
    role = m.get("role")
    if role == "tool":
        text = content if isinstance(content, str) else json.dumps(content)
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": str(m.get("tool_call_id", "")),
                                             "content": text}]}
    calls = m.get("tool_calls")
    if role == "assistant" and calls:
        blocks: list[dict[str, Any]] = []
        if isinstance(content, str) and content:
            blocks.append({"type": "text", "text": content})
        elif isinstance(content, list):
            blocks.extend(content)
        for call in calls:
            function = call.get("function") or {}
            try:
                arguments = json.loads(function.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments})
        return {"role": "assistant", "content": blocks}
    return {"role": role, "content": content}


def tool_call(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` block as an OpenAI tool call."""
    return {"id": str(block.get("id") or ""), "type": "function",
            "function": {"name": str(block.get("name") or ""), "arguments": json.dumps(block.get("input") or {})}}


__all__ = ["tools_body", "message", "tool_call"]
