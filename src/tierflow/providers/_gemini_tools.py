"""OpenAI's tools in Gemini's API (README, "Tools").

``tools`` become one ``functionDeclarations`` tool (parameters translated to Gemini's schema
subset); ``tool_choice`` ``auto`` / ``required`` / ``none`` / a named function become
``functionCallingConfig`` modes ``AUTO`` / ``ANY`` / ``NONE`` / ``ANY`` with ``allowedFunctionNames``;
an assistant message's ``tool_calls`` become ``functionCall`` parts and a ``tool`` message a
``functionResponse`` part (named after the call it answers); ``functionCall`` parts of the answer
come back as OpenAI tool calls (ids ``call_<n>`` where Gemini sends none), finish reason ``tool_calls``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tierflow.types import ChatRequest, Message


def tools_body(request: ChatRequest, schema: Callable[[Any], Any]) -> dict[str, Any]:
    """The body fields for ``request.tools`` / ``tool_choice``; ``schema`` translates a JSON schema."""
    if not request.tools:
        return {}
    declarations = []
    for tool in request.tools:
        function = tool.get("function") or {}
        entry: dict[str, Any] = {"name": function.get("name")}
        if function.get("description"):
            entry["description"] = function["description"]
        if function.get("parameters"):
            entry["parameters"] = schema(function["parameters"])
        declarations.append(entry)
    out: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    choice = request.tool_choice
    mode: dict[str, Any] | None = None
    if choice in ("auto", "none", "required"):
        mode = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[str(choice)]}
    elif isinstance(choice, dict):
        mode = {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name")]}
    if mode is not None:
        out["toolConfig"] = {"functionCallingConfig": mode}
    return out


def call_names(messages: list[Message]) -> dict[str, str]:
    """Tool call id -> function name, from the assistant messages (a functionResponse needs the name)."""
    return {str(c.get("id")): str((c.get("function") or {}).get("name"))
            for m in messages for c in (m.get("tool_calls") or []) if isinstance(c, dict)}


def content(m: Message, parts: list[dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    """One non-system message as a Gemini content, tool calls and results included."""
    role = m.get("role")
    if role == "tool":
        text = m.get("content")
        response = {"content": text if isinstance(text, str) else json.dumps(text)}
        name = names.get(str(m.get("tool_call_id")), str(m.get("name") or ""))
        return {"role": "user", "parts": [{"functionResponse": {"name": name, "response": response}}]}
    if role == "assistant" and m.get("tool_calls"):
        calls = []
        for call in m["tool_calls"]:
            function = call.get("function") or {}
            try:
                args = json.loads(function.get("arguments") or "{}")
            except ValueError:
                args = {}
            calls.append({"functionCall": {"name": function.get("name"), "args": args}})
        return {"role": "model", "parts": [p for p in parts if p.get("text")] + calls}
    return {"role": "model" if role == "assistant" else "user", "parts": parts}


def tool_calls(data: dict[str, Any], start: int = 0) -> list[dict[str, Any]] | None:
    """The ``functionCall`` parts of the first candidate as OpenAI tool calls (numbered from ``start``)."""
    candidates = data.get("candidates") or []
    cand = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (cand.get("content") or {}).get("parts") or []
    calls: list[dict[str, Any]] = []
    for part in parts:
        call = part.get("functionCall") if isinstance(part, dict) else None
        if isinstance(call, dict):
            calls.append({"id": str(call.get("id") or f"call_{start + len(calls)}"), "type": "function",
                          "function": {"name": str(call.get("name") or ""),
                                       "arguments": json.dumps(call.get("args") or {})}})
    return calls or None


__all__ = ["tools_body", "call_names", "content", "tool_calls"]
