"""Google Gemini API (``kind: gemini``): ``generateContent`` and ``streamGenerateContent?alt=sse``.

- ``base_url`` defaults to ``https://generativelanguage.googleapis.com``; requests go to
  ``{base_url}/{api_version}/models/{model}:generateContent`` (``api_version`` default ``v1beta``;
  a base URL that already has a path is used as the API root). The key goes in ``x-goog-api-key``,
  never in the URL.
- System messages become ``systemInstruction``; ``assistant`` turns become role ``model``; text
  parts of list contents are kept, other parts are dropped.
- ``generationConfig``: temperature, maxOutputTokens, stopSequences, seed; JSON output with
  ``responseMimeType: application/json`` and, for ``json_schema``, ``responseSchema`` (the JSON
  schema translated to Gemini's OpenAPI subset: unsupported keywords dropped, types upper-cased);
  logprobs with ``responseLogprobs`` / ``logprobs`` (top count).
- Usage: ``input_tokens`` = promptTokenCount (cached included), ``cached_tokens`` =
  cachedContentTokenCount, ``output_tokens`` = candidatesTokenCount + thoughtsTokenCount,
  ``reasoning_tokens`` = thoughtsTokenCount.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from tierflow.errors import APIConnectionError, ResponseFormatError
from tierflow.providers._http import HTTPProvider, api_root, guard_stream, loads_event
from tierflow.providers._http_errors import SecretHeaders, status_error
from tierflow.providers.base import ProviderSettings, Timeouts, register_provider
from tierflow.types import ChatRequest, ChatResponse, StreamChunk, TokenLogprob, Usage

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
           "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter"}
_SCHEMA_KEYS = frozenset({"type", "format", "description", "nullable", "enum", "properties", "required", "items",
                          "minItems", "maxItems", "minimum", "maximum", "anyOf", "propertyOrdering",
                          "minLength", "maxLength", "pattern", "minProperties", "maxProperties"})


def to_gemini_schema(schema: Any) -> Any:
    """A JSON schema -> Gemini's ``Schema`` (OpenAPI subset): keep what it accepts, upper-case types."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "type":
            types = value if isinstance(value, list) else [value]
            if "null" in types:
                out["nullable"] = True
            real = [t for t in types if t != "null"]
            out["type"] = str(real[0] if real else "null").upper()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: to_gemini_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = to_gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [to_gemini_schema(sub) for sub in value]
        else:
            out[key] = value
    return out


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, list):
        return [{"text": p["text"]} for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    thoughts = u.get("thoughtsTokenCount") or 0
    return Usage(input_tokens=u.get("promptTokenCount") or 0,
                 output_tokens=(u.get("candidatesTokenCount") or 0) + thoughts,
                 cached_tokens=u.get("cachedContentTokenCount") or 0, reasoning_tokens=thoughts)


def _logprobs(result: Any) -> list[TokenLogprob] | None:
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    out = []
    for i, c in enumerate(chosen):
        top = tops[i].get("candidates", []) if i < len(tops) and isinstance(tops[i], dict) else []
        out.append(TokenLogprob(token=c.get("token", ""), logprob=c.get("logProbability", 0.0),
                                top=[(t.get("token", ""), t.get("logProbability", 0.0)) for t in top]))
    return out


def _candidate(data: dict[str, Any]) -> tuple[str, str | None, list[TokenLogprob] | None]:
    """Text (thought parts skipped), finish reason and logprobs of the first candidate."""
    candidates = data.get("candidates")
    if not candidates:
        blocked = (data.get("promptFeedback") or {}).get("blockReason")
        return "", ("content_filter" if blocked else None), None
    cand = candidates[0] if isinstance(candidates[0], dict) else {}
    parts = (cand.get("content") or {}).get("parts") or []
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
    reason = cand.get("finishReason")
    finish = _FINISH.get(reason, reason.lower()) if isinstance(reason, str) else None
    return text, finish, _logprobs(cand.get("logprobsResult"))


@register_provider
class GeminiProvider(HTTPProvider):
    """Gemini models through the Generative Language API."""

    kind = "gemini"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        self._root = api_root(settings.base_url or DEFAULT_BASE_URL, "/" + (settings.api_version or "v1beta"))
        headers = SecretHeaders({"Content-Type": "application/json", **settings.headers})
        if self._secrets:
            headers["x-goog-api-key"] = self._secrets[0]
        self._headers = headers
        self._urls: dict[tuple[str, bool], str] = {}

    def _url_for(self, model: str, stream: bool) -> str:
        url = self._urls.get((model, stream))
        if url is None:
            action = "streamGenerateContent?alt=sse" if stream else "generateContent"
            url = self._urls[(model, stream)] = (
                f"{self._root}/models/{quote(model.removeprefix('models/'), safe='')}:{action}")
        return url

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        system: list[dict[str, Any]] = []
        contents: list[dict[str, Any]] = []
        for m in request.messages:
            role = m.get("role")
            if role in ("system", "developer"):
                system.extend(_parts(m.get("content")))
            else:
                contents.append({"role": "model" if role == "assistant" else "user", "parts": _parts(m.get("content"))})
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        cfg: dict[str, Any] = {}
        if request.temperature is not None:
            cfg["temperature"] = request.temperature
        if request.max_tokens is not None:
            cfg["maxOutputTokens"] = request.max_tokens
        if request.stop:
            cfg["stopSequences"] = request.stop
        if request.seed is not None:
            cfg["seed"] = request.seed
        fmt = request.response_format
        if fmt and fmt.get("type") in ("json_object", "json_schema"):
            cfg["responseMimeType"] = "application/json"
            schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
            if schema:
                cfg["responseSchema"] = to_gemini_schema(schema)
        if request.logprobs:
            cfg["responseLogprobs"] = True
            if request.top_logprobs is not None:
                cfg["logprobs"] = request.top_logprobs
        extra = dict(request.extra)
        if isinstance(extra.get("generationConfig"), dict):
            cfg.update(extra.pop("generationConfig"))
        if cfg:
            body["generationConfig"] = cfg
        body.update(extra)
        return body

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        target = self._target(request.model)
        data = await self._post_json(self._url_for(request.model, False), self._body(request), self._headers,
                                     timeouts, target)
        if "error" in data:
            raise self._embedded_error(data, target)
        if "candidates" not in data and "promptFeedback" not in data:
            raise ResponseFormatError("response has no 'candidates'", target=target)
        text, finish, logprobs = _candidate(data)
        return ChatResponse(text=text, usage=_usage(data.get("usageMetadata")) or Usage(), finish_reason=finish,
                            logprobs=logprobs, model=data.get("modelVersion"), raw=data)

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        return guard_stream(self._stream(request, timeouts), self._target(request.model))

    async def _stream(self, request: ChatRequest, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        target = self._target(request.model)
        usage: Usage | None = None
        finish: str | None = None
        async for _event, data in self._post_sse(self._url_for(request.model, True), self._body(request),
                                                 self._headers, timeouts, target):
            obj = loads_event(data, target, self._secrets)
            if "error" in obj:
                raise self._embedded_error(obj, target)
            usage = _usage(obj.get("usageMetadata")) or usage
            text, reason, logprobs = _candidate(obj)
            finish = reason or finish
            if text or logprobs:
                yield StreamChunk(text=text, logprobs=logprobs)
        if finish is None:
            raise APIConnectionError("stream ended without a finish reason", target=target)
        yield StreamChunk(usage=usage, finish_reason=finish)

    def _embedded_error(self, data: dict[str, Any], target: str) -> Exception:
        err = data.get("error")
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        return status_error(status, json.dumps(data), {}, target, self._secrets)


__all__ = ["GeminiProvider", "DEFAULT_BASE_URL", "to_gemini_schema"]
