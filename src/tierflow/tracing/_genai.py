"""GenAI semantic-convention attributes of one call: usage, request parameters, opt-in content.

Split out of :mod:`tierflow.tracing.otel` (which turns events into spans) so each stays readable;
the attribute names are the OpenTelemetry GenAI conventions' (docs/tracing.md has the table).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tierflow.calls.events import CallFinished


def drop_none(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None}


def usage_attributes(usage: Any) -> dict[str, Any]:
    attrs = {"gen_ai.usage.input_tokens": usage.input_tokens, "gen_ai.usage.output_tokens": usage.output_tokens}
    if usage.cached_tokens:
        attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
    if usage.cache_write_tokens:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    return attrs


_EXTRA_PARAMS = {"top_p": "gen_ai.request.top_p", "top_k": "gen_ai.request.top_k",
                 "frequency_penalty": "gen_ai.request.frequency_penalty",
                 "presence_penalty": "gen_ai.request.presence_penalty", "n": "gen_ai.request.choice.count"}


def request_attributes(request: Any) -> dict[str, Any]:
    attrs = drop_none({"gen_ai.request.temperature": request.temperature,
                       "gen_ai.request.max_tokens": request.max_tokens,
                       "gen_ai.request.stop_sequences": request.stop, "gen_ai.request.seed": request.seed})
    fmt = request.response_format
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
        attrs["gen_ai.output.type"] = "json"
    for key, name in _EXTRA_PARAMS.items():
        value = (request.extra or {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = value
    return attrs


def content_attributes(event: CallFinished) -> dict[str, Any]:
    """The opt-in message content, in the GenAI conventions' JSON shape (and Phoenix's input/output values)."""
    attrs: dict[str, Any] = {}
    if event.request is not None:
        system = [m for m in event.request.messages if m.get("role") == "system"]
        others = [m for m in event.request.messages if m.get("role") != "system"]
        inputs = [{"role": m.get("role"), "parts": _parts(m.get("content"))} for m in others]
        attrs["gen_ai.input.messages"] = json.dumps(inputs)
        if system:
            attrs["gen_ai.system_instructions"] = json.dumps([p for m in system for p in _parts(m.get("content"))])
        attrs["input.value"] = json.dumps(event.request.messages)
        attrs["input.mime_type"] = "application/json"
    if event.result is not None and event.result.text is not None:
        out = [{"role": "assistant", "parts": [{"type": "text", "content": event.result.text}],
                "finish_reason": event.result.finish_reason or "stop"}]
        attrs["gen_ai.output.messages"] = json.dumps(out)
        attrs["output.value"] = event.result.text
    return attrs


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [{"type": "text", "content": p.get("text", "")} if isinstance(p, Mapping) and p.get("type") == "text"
                else {"type": str(p.get("type", "?")) if isinstance(p, Mapping) else "?"} for p in content]
    return []


__all__ = ["content_attributes", "drop_none", "request_attributes", "usage_attributes"]
