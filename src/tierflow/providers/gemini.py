"""Google Gemini (``kind: gemini``): ``generateContent`` and ``streamGenerateContent?alt=sse``.

Two services speak this protocol:

- **The Gemini API** (default): ``base_url`` defaults to ``https://generativelanguage.googleapis.com``;
  requests go to ``{base_url}/{api_version}/models/{model}:generateContent`` (``api_version``
  default ``v1beta``; a base URL that already has a path is used as the API root). The key goes in
  ``x-goog-api-key``, never in the URL.
- **Vertex AI**, when ``options.project_id`` is set (``options.location`` default ``us-central1``):
  requests go to ``{base_url}/{api_version}/projects/{project}/locations/{location}/publishers/google/
  models/{model}:generateContent``, ``base_url`` defaulting to ``https://{location}-aiplatform.googleapis.com``
  (``https://aiplatform.googleapis.com`` for location ``global``) and ``api_version`` to ``v1``.
  ``api_key`` is then an OAuth access token sent as ``Authorization: Bearer`` (for example
  ``api_key: ${GOOGLE_ACCESS_TOKEN}`` filled from ``gcloud auth print-access-token``; such a token
  lasts an hour and tierflow does not refresh it).
- System messages become ``systemInstruction``; ``assistant`` turns become role ``model``; text
  parts of list contents are kept, image parts (OpenAI's ``image_url``) become ``inlineData`` (a
  ``data:`` URL) or ``fileData`` (an http(s) URL), other parts are dropped.
- ``generationConfig``: temperature, maxOutputTokens, stopSequences, seed; JSON output with
  ``responseMimeType: application/json`` and, for ``json_schema``, ``responseSchema`` (the JSON
  schema translated to Gemini's OpenAPI subset: unsupported keywords dropped, types upper-cased);
  logprobs with ``responseLogprobs`` / ``logprobs`` (top count); the portable extra fields
  ``top_p``, ``frequency_penalty`` and ``presence_penalty`` become ``topP``, ``frequencyPenalty``
  and ``presencePenalty``.
- Usage: ``input_tokens`` = promptTokenCount (cached included), ``cached_tokens`` =
  cachedContentTokenCount, ``output_tokens`` = candidatesTokenCount + thoughtsTokenCount,
  ``reasoning_tokens`` = thoughtsTokenCount.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from tierflow.errors import APIConnectionError, ConfigError, Problem, ResponseFormatError
from tierflow.providers._checks import reading_answer
from tierflow.providers._embeddings import gemini_vectors
from tierflow.providers._gemini_tools import call_names, tool_calls, tools_body
from tierflow.providers._gemini_tools import content as tool_content
from tierflow.providers._http import HTTPProvider, api_root, guard_stream, loads_event
from tierflow.providers._http_errors import status_error
from tierflow.providers._images import image_of, is_image
from tierflow.providers._secrets import SecretHeaders
from tierflow.providers._usage import checked_usage, token_count, usage_mapping
from tierflow.providers.base import ProviderSettings, Timeouts, register_provider
from tierflow.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk, TokenLogprob, Usage

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_VERTEX_LOCATION = "us-central1"
_OPTIONS = ("project_id", "location")
_LOCATION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_SAMPLING = {"top_p": "topP", "frequency_penalty": "frequencyPenalty", "presence_penalty": "presencePenalty"}
"""Portable sampling fields (OpenAI's names, given as extra call keywords) -> generationConfig's."""
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


def _parts(content: Any, where: str = "", target: str = "") -> list[dict[str, Any]]:
    """Gemini parts of a message's content: text parts, and images as ``inlineData`` (a ``data:``
    URL) or ``fileData`` (an http(s) URL)."""
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        return []
    out: list[dict[str, Any]] = []
    for p in content:
        if is_image(p):
            image = image_of(p, where, target)
            out.append({"inlineData": {"mimeType": image.media_type, "data": image.data}} if image.data is not None
                       else {"fileData": {"mimeType": image.media_type, "fileUri": image.url}})
        elif isinstance(p, dict) and isinstance(p.get("text"), str):
            out.append({"text": p["text"]})
    return out


def _usage(value: Any, target: str) -> Usage | None:
    u = usage_mapping(value, target, "usageMetadata")
    if u is None:
        return None
    thoughts = token_count(u, "thoughtsTokenCount", target, "usageMetadata")
    return checked_usage(Usage(input_tokens=token_count(u, "promptTokenCount", target, "usageMetadata"),
                               output_tokens=token_count(u, "candidatesTokenCount", target, "usageMetadata") + thoughts,
                               cached_tokens=token_count(u, "cachedContentTokenCount", target, "usageMetadata"),
                               reasoning_tokens=thoughts), target)


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
    reason = cand.get("finishReason")
    finish = _FINISH.get(reason, reason.lower()) if isinstance(reason, str) else None
    return _answer_text(cand), finish, _logprobs(cand.get("logprobsResult"))


def _answer_text(candidate: dict[str, Any]) -> str:
    """A candidate's text parts joined, its thought parts left out."""
    parts = (candidate.get("content") or {}).get("parts") or []
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))


@register_provider
class GeminiProvider(HTTPProvider):
    """Gemini models through the Generative Language API."""

    kind = "gemini"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        project, location = self._vertex_options(settings.options)
        headers = SecretHeaders.of({"Content-Type": "application/json"}, settings.headers)
        key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        if project is None:
            self._root = api_root(settings.base_url or DEFAULT_BASE_URL, "/" + (settings.api_version or "v1beta"))
            if key:
                headers["x-goog-api-key"] = key
        else:
            host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
            root = api_root(settings.base_url or f"https://{host}", "/" + (settings.api_version or "v1"))
            self._root = f"{root}/projects/{quote(project, safe='')}/locations/{location}/publishers/google"
            headers["Authorization"] = f"Bearer {key}"
        self._headers = headers
        self._urls: dict[tuple[str, bool], str] = {}

    def _vertex_options(self, options: dict[str, Any]) -> tuple[str | None, str]:
        """``(project_id, location)`` from the options (project None: the Gemini API), checked."""
        where = f"providers.{self.name}"
        problems = [Problem(f"{where}.options.{k}", f"unknown option for kind 'gemini'; expected one of: "
                            f"{', '.join(_OPTIONS)}") for k in options if k not in _OPTIONS]
        project, location = options.get("project_id"), options.get("location")
        if project is not None and (not isinstance(project, str) or not project.strip()):
            problems.append(Problem(f"{where}.options.project_id", "expected a Google Cloud project id"))
        if location is not None and (not isinstance(location, str) or not location
                                     or not set(location) <= _LOCATION_CHARS):
            problems.append(Problem(f"{where}.options.location", "expected a Vertex AI location such as "
                                    "us-central1 or global"))
        elif location is not None and project is None:
            problems.append(Problem(f"{where}.options.location", "is used with project_id only (Vertex AI)"))
        if project is not None and self.settings.api_key is None:
            problems.append(Problem(f"{where}.api_key", "Vertex AI (options.project_id) needs an OAuth access "
                                    "token here, e.g. api_key: ${GOOGLE_ACCESS_TOKEN} filled from "
                                    "`gcloud auth print-access-token`"))
        if problems:
            raise ConfigError(problems)
        return (project.strip() if isinstance(project, str) else None), (location or DEFAULT_VERTEX_LOCATION)

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
        target = self._target(request.model)
        names = call_names(request.messages) if request.tools else {}
        for i, m in enumerate(request.messages):
            role = m.get("role")
            if role in ("system", "developer"):
                system.extend(_parts(m.get("content")))
            else:
                contents.append(tool_content(m, _parts(m.get("content"), f"messages[{i}]", target), names))
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
        for portable, native in _SAMPLING.items():
            if portable in extra:
                cfg[native] = extra.pop(portable)
        if isinstance(extra.get("generationConfig"), dict):
            cfg.update(extra.pop("generationConfig"))
        if cfg:
            body["generationConfig"] = cfg
        body.update(tools_body(request, to_gemini_schema))
        body.update(extra)
        return body

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        target = self._target(request.model)
        data = await self._post_json(self._url_for(request.model, False), self._body(request), self._headers,
                                     timeouts, target, request)
        with reading_answer(target, self._secrets):
            if "error" in data:
                raise self._embedded_error(data, target)
            if "candidates" not in data and "promptFeedback" not in data:
                raise ResponseFormatError("response has no 'candidates'", target=target)
            text, finish, logprobs = _candidate(data)
            calls = tool_calls(data)
            usage = _usage(data.get("usageMetadata"), target) or self._estimate(request, text, target)
            model = data.get("modelVersion")
            return ChatResponse(text=text, usage=usage, finish_reason="tool_calls" if calls else finish,
                                logprobs=logprobs, model=model if isinstance(model, str) else None, raw=data,
                                tool_calls=calls)

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        return guard_stream(self._stream(request, timeouts), self._target(request.model))

    async def embed(self, model: str, inputs: list[str], *, timeouts: Timeouts) -> EmbeddingResponse:
        """``models/{model}:batchEmbedContents``, one request per input (Gemini reports no token usage:
        it is estimated)."""
        target = self._target(model)
        name = "models/" + model.removeprefix("models/")
        url = f"{self._root}/models/{quote(model.removeprefix('models/'), safe='')}:batchEmbedContents"
        body = {"requests": [{"model": name, "content": {"parts": [{"text": text}]}} for text in inputs]}
        data = await self._post_json(url, body, self._headers, timeouts, target)
        with reading_answer(target, self._secrets):
            if "error" in data:
                raise self._embedded_error(data, target)
            usage = Usage(input_tokens=sum(len(t) for t in inputs) // 4 + 1, estimated=True)
            return EmbeddingResponse(gemini_vectors(data, len(inputs), target), usage, model)

    async def _stream(self, request: ChatRequest, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        target = self._target(request.model)
        usage: Usage | None = None
        finish: str | None = None
        chars = 0
        called = 0
        with reading_answer(target, self._secrets):
            async for _event, data in self._post_sse(self._url_for(request.model, True), self._body(request),
                                                     self._headers, timeouts, target, request):
                obj = loads_event(data, target, self._secrets)
                if "error" in obj:
                    raise self._embedded_error(obj, target)
                usage = _usage(obj.get("usageMetadata"), target) or usage
                text, reason, logprobs = _candidate(obj)
                finish = reason or finish
                chars += len(text)
                calls = tool_calls(obj, called)
                if calls:  # Gemini sends each call whole: one delta per call
                    calls = [{"index": called + i, **c} for i, c in enumerate(calls)]
                    called += len(calls)
                if text or logprobs or calls:
                    yield StreamChunk(text=text, logprobs=logprobs, tool_calls=calls)
        if called and finish == "stop":
            finish = "tool_calls"
        if finish is None:
            raise APIConnectionError("stream ended without a finish reason", target=target)
        yield StreamChunk(usage=usage or self._estimate(request, chars, target), finish_reason=finish)

    def _embedded_error(self, data: dict[str, Any], target: str) -> Exception:
        err = data.get("error")
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        return status_error(status, json.dumps(data), {}, target, self._secrets)


__all__ = ["GeminiProvider", "DEFAULT_BASE_URL", "DEFAULT_VERTEX_LOCATION", "to_gemini_schema"]
