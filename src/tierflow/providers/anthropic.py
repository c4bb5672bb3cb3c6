"""Anthropic Messages API (``kind: anthropic``).

- ``base_url`` defaults to ``https://api.anthropic.com``; requests go to ``{base_url}/v1/messages``
  (a base URL already ending in ``/v1`` is not doubled). Headers: ``x-api-key`` and
  ``anthropic-version`` (``api_version``, default ``2023-06-01``).
- Image parts (OpenAI's ``image_url``) become ``image`` blocks: a ``data:`` URL a base64 source,
  an http(s) URL a ``url`` source.
- System messages become the top-level ``system``; ``max_tokens`` is required by the API and
  defaults to 1024 (``options.max_tokens``); ``stop`` becomes ``stop_sequences``.
- JSON output (``response_format`` ``json_object`` / ``json_schema``) uses a forced tool whose
  input schema is the requested schema; the tool input is returned as the JSON text (streamed
  as ``input_json_delta`` pieces). A non-object schema is wrapped in ``{"value": ...}`` and
  unwrapped again.
- Usage: ``input_tokens`` = uncached input + cache reads + cache writes; ``cached_tokens`` = cache
  reads (``cache_read_input_tokens``); ``cache_write_tokens`` = cache writes
  (``cache_creation_input_tokens``, billed at the write rate), of which ``cache_write_1h_tokens``
  were written for an hour (``cache_creation.ephemeral_1h_input_tokens``). An answer without usage
  gets an estimate (``usage.estimated``). Logprobs and ``seed`` do not exist in this API and are
  ignored (``logprobs`` is None). ``top_p`` is sent as is; ``frequency_penalty`` and
  ``presence_penalty`` do not exist in this API: a request with either (non-zero) is refused
  with a :class:`~tierflow.errors.BadRequestError` naming it, before anything is sent, so a
  role's fallback to a provider that has them can still serve it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from tierflow.errors import APIConnectionError, BadRequestError, ResponseFormatError
from tierflow.providers._anthropic_tools import message as tool_message
from tierflow.providers._anthropic_tools import tool_call, tools_body
from tierflow.providers._checks import reading_answer
from tierflow.providers._http import HTTPProvider, api_root, guard_stream, loads_event
from tierflow.providers._http_errors import status_error
from tierflow.providers._images import image_of, is_image
from tierflow.providers._secrets import SecretHeaders
from tierflow.providers._usage import checked_usage, token_count, usage_mapping
from tierflow.providers.base import ProviderSettings, Timeouts, register_provider
from tierflow.types import ChatRequest, ChatResponse, StreamChunk, Usage

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
JSON_TOOL = "json_output"
_NO_SUCH_PARAMETER = ("frequency_penalty", "presence_penalty")
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter", "pause_turn": "stop"}
_ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                 "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                 "api_error": 500, "overloaded_error": 529}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _usage(value: Any, target: str, prior: Usage | None = None) -> Usage | None:
    """Anthropic usage -> :class:`Usage`; fields missing from it keep their ``prior`` value.

    None when there is no usage object and no prior. Counts are checked (ResponseFormatError).
    """
    u = usage_mapping(value, target)
    if u is None:
        return prior
    prior = prior or Usage()
    if any(k in u for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")):
        cached = token_count(u, "cache_read_input_tokens", target)
        written = token_count(u, "cache_creation_input_tokens", target)
        split = usage_mapping(u.get("cache_creation"), target, "usage.cache_creation") or {}
        written_1h = token_count(split, "ephemeral_1h_input_tokens", target, "usage.cache_creation")
        input_tokens = token_count(u, "input_tokens", target) + cached + written
    else:
        cached, written, written_1h, input_tokens = (prior.cached_tokens, prior.cache_write_tokens,
                                                     prior.cache_write_1h_tokens, prior.input_tokens)
    output = token_count(u, "output_tokens", target) if "output_tokens" in u else prior.output_tokens
    return checked_usage(Usage(input_tokens=input_tokens, output_tokens=output, cached_tokens=cached,
                               cache_write_tokens=written, cache_write_1h_tokens=written_1h), target)


@register_provider
class AnthropicProvider(HTTPProvider):
    """Claude models through the Messages API."""

    kind = "anthropic"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        self._url = api_root(settings.base_url or DEFAULT_BASE_URL, "/v1") + "/messages"
        headers = SecretHeaders.of({"Content-Type": "application/json",
                                    "anthropic-version": settings.api_version or DEFAULT_VERSION}, settings.headers)
        if settings.api_key is not None and settings.api_key.get_secret_value():
            headers["x-api-key"] = settings.api_key.get_secret_value()
        self._headers = headers
        self._default_max_tokens = int(settings.options.get("max_tokens", 1024))

    def _body(self, request: ChatRequest, stream: bool) -> tuple[dict[str, Any], bool]:
        """The request body, and whether the JSON answer is wrapped in ``{"value": ...}``."""
        system: list[str] = []
        messages: list[dict[str, Any]] = []
        for i, m in enumerate(request.messages):
            if m.get("role") in ("system", "developer"):
                system.append(_text(m.get("content")))
            else:
                messages.append(tool_message(m, self._content(m.get("content"), i, request.model)))
        body: dict[str, Any] = {"model": request.model, "messages": messages,
                                "max_tokens": request.max_tokens or self._default_max_tokens}
        if system:
            body["system"] = "\n\n".join(system)
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.stop:
            body["stop_sequences"] = request.stop
        wrapped = False
        fmt = request.response_format
        if fmt and fmt.get("type") in ("json_object", "json_schema"):
            schema: dict[str, Any] = {"type": "object"}
            if fmt["type"] == "json_schema":
                schema = (fmt.get("json_schema") or {}).get("schema") or schema
            if schema.get("type") != "object":
                schema, wrapped = {"type": "object", "properties": {"value": schema}, "required": ["value"]}, True
            body["tools"] = [{"name": JSON_TOOL, "description": "Answer with this JSON structure.",
                              "input_schema": schema}]
            body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
        body.update(tools_body(request, self._target(request.model)))
        if stream:
            body["stream"] = True
        if request.extra:
            body.update(request.extra)
            for name in _NO_SUCH_PARAMETER:
                if body.pop(name, 0) not in (0, 0.0, None):
                    raise BadRequestError(f"{name!r} does not exist in Anthropic's Messages API; leave it "
                                          "out or call a provider that has it", target=self._target(request.model),
                                          status_code=400)
        return body, wrapped

    def _content(self, content: Any, index: int, model: str) -> Any:
        """A message's content; OpenAI parts become Anthropic blocks (images as base64 or URL sources)."""
        if not isinstance(content, list) or not any(is_image(p) for p in content):
            return content
        blocks: list[dict[str, Any]] = []
        for part in content:
            if is_image(part):
                image = image_of(part, f"messages[{index}]", self._target(model))
                source = ({"type": "base64", "media_type": image.media_type, "data": image.data}
                          if image.data is not None else {"type": "url", "url": image.url})
                blocks.append({"type": "image", "source": source})
            elif isinstance(part, dict) and part.get("type") == "text":
                blocks.append({"type": "text", "text": str(part.get("text", ""))})
        return blocks

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        target = self._target(request.model)
        body, wrapped = self._body(request, False)
        data = await self._post_json(self._url, body, self._headers, timeouts, target, request)
        with reading_answer(target, self._secrets):
            if data.get("type") == "error":
                raise self._event_error(data, target)
            content = data.get("content")
            if not isinstance(content, list):
                raise ResponseFormatError("response has no 'content' list", target=target)
            parts: list[str] = []
            calls: list[dict[str, Any]] = []
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "text":
                    parts.append(block.get("text", ""))
                elif block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
                    value = block.get("input")
                    parts.append(json.dumps(value.get("value") if wrapped and isinstance(value, dict) else value))
                elif block.get("type") == "tool_use":
                    calls.append(tool_call(block))
            text = "".join(parts)
            finish = self._finish(data.get("stop_reason"), _json_tool(body))
            usage = _usage(data.get("usage"), target) or self._estimate(request, text, target)
            model = data.get("model")
            return ChatResponse(text=text, usage=usage, finish_reason=finish,
                                model=model if isinstance(model, str) else None, raw=data, tool_calls=calls or None)

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        return guard_stream(self._stream(request, timeouts), self._target(request.model))

    async def _stream(self, request: ChatRequest, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        target = self._target(request.model)
        body, wrapped = self._body(request, True)
        usage: Usage | None = None
        finish: str | None = None
        done = False
        chars = 0
        buffered: list[str] = []  # wrapped JSON is emitted whole, once complete
        calls: dict[Any, int] = {}  # content block index -> tool call index (real tools, not the JSON tool)
        with reading_answer(target, self._secrets):
            async for event, data in self._post_sse(self._url, body, self._headers, timeouts, target, request):
                if event == "ping":
                    continue
                obj = loads_event(data, target, self._secrets)
                kind = obj.get("type", event)
                block = obj.get("content_block") or {}
                if kind == "content_block_start" and block.get("type") == "tool_use" and block.get("name") != JSON_TOOL:
                    calls[obj.get("index")] = len(calls)
                    start = tool_call({**block, "input": None})
                    start["function"]["arguments"] = ""
                    yield StreamChunk(tool_calls=[{"index": calls[obj.get("index")], **start}])
                elif kind == "content_block_delta" and obj.get("index") in calls:
                    piece = (obj.get("delta") or {}).get("partial_json") or ""
                    if piece:
                        yield StreamChunk(tool_calls=[{"index": calls[obj["index"]], "function": {"arguments": piece}}])
                elif kind == "content_block_delta":
                    delta = obj.get("delta") or {}
                    piece = delta.get("text") if delta.get("type") == "text_delta" else (
                        delta.get("partial_json") if delta.get("type") == "input_json_delta" else None)
                    if piece and wrapped:
                        buffered.append(piece)
                    elif piece:
                        chars += len(piece)
                        yield StreamChunk(text=piece)
                elif kind == "message_start":
                    usage = _usage((obj.get("message") or {}).get("usage"), target, usage)
                elif kind == "message_delta":
                    usage = _usage(obj.get("usage"), target, usage)
                    finish = self._finish((obj.get("delta") or {}).get("stop_reason"), _json_tool(body))
                elif kind == "message_stop":
                    done = True
                    if buffered:
                        text = self._unwrap("".join(buffered), target)
                        chars += len(text)
                        yield StreamChunk(text=text)
                    yield StreamChunk(usage=usage or self._estimate(request, chars, target), finish_reason=finish)
                elif kind == "error":
                    raise self._event_error(obj, target)
        if not done:
            raise APIConnectionError("stream ended before message_stop", target=target)

    def _unwrap(self, text: str, target: str) -> str:
        try:
            return json.dumps(json.loads(text).get("value"))
        except (ValueError, AttributeError):
            raise ResponseFormatError("streamed tool input is not a JSON object", target=target) from None

    @staticmethod
    def _finish(reason: Any, json_tool: bool) -> str | None:
        """Anthropic stop reason -> OpenAI-style finish reason (our JSON tool call is a normal stop)."""
        if not isinstance(reason, str):
            return None
        return "stop" if reason == "tool_use" and json_tool else _FINISH.get(reason, reason)

    def _event_error(self, data: dict[str, Any], target: str) -> Exception:
        err = data.get("error")
        status = _ERROR_STATUS.get(err.get("type", ""), 500) if isinstance(err, dict) else 500
        return status_error(status, json.dumps(data), {}, target, self._secrets)


def _json_tool(body: dict[str, Any]) -> bool:
    """True when the request forces tierflow's JSON-output tool (its ``tool_use`` is a normal stop)."""
    choice = body.get("tool_choice")
    return isinstance(choice, dict) and choice.get("name") == JSON_TOOL


__all__ = ["AnthropicProvider", "DEFAULT_BASE_URL", "DEFAULT_VERSION", "JSON_TOOL"]
