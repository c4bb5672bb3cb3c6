"""OpenAI-compatible chat completions: kinds ``openai`` and ``azure``.

Covers OpenAI, vLLM, Ollama, llama.cpp server, OpenRouter, LM Studio and gateways.

``base_url`` is the API root, as in the OpenAI SDK (``https://api.openai.com/v1``,
``https://openrouter.ai/api/v1``); requests go to ``{base_url}/chat/completions``. A base URL with
no path at all (``http://localhost:8000``, as vLLM / Ollama / llama.cpp are often written) gets
``/v1`` appended, since every such server serves the API there; a base URL that already ends in
``/chat/completions`` is used as is. Azure: ``base_url`` is the resource endpoint
(``https://NAME.openai.azure.com``) and requests go to
``{base_url}/openai/deployments/{model}/chat/completions?api-version={api_version}``.

Options (``providers.NAME.options``): ``max_tokens_field`` (``max_tokens``, or
``max_completion_tokens`` which is the default for api.openai.com), ``stream_usage`` (default true:
send ``stream_options.include_usage``; turn off for servers that reject it), ``organization``
(sent as ``OpenAI-Organization``), and for Azure ``azure_deployment`` (the deployment name in the
URL, when it differs from the model). Other options are refused, never silently ignored.

Usage is checked (:mod:`tierflow.providers._usage`): an answer without it, or a stream whose server
ignored ``include_usage``, gets an estimate marked ``usage.estimated``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

from tierflow.errors import APIConnectionError, ConfigError, Problem, ResponseFormatError
from tierflow.providers._checks import reading_answer
from tierflow.providers._embeddings import openai_vectors
from tierflow.providers._http import HTTPProvider, api_root, guard_stream, loads_event
from tierflow.providers._http_errors import status_error
from tierflow.providers._secrets import SecretHeaders
from tierflow.providers._usage import checked_usage, token_count, usage_mapping
from tierflow.providers.base import ProviderSettings, Timeouts, register_provider
from tierflow.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk, TokenLogprob, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
_NO_DETAILS: dict[str, Any] = {}  # read-only stand-in for absent usage details


_OPTIONS = {"openai": ("max_tokens_field", "stream_usage", "organization"),
            "azure": ("max_tokens_field", "stream_usage", "organization", "azure_deployment")}


def parse_usage(value: Any, target: str = "") -> Usage | None:
    """OpenAI ``usage`` (with cached / reasoning token details) -> :class:`Usage`; None when absent.

    Counts that are not whole numbers >= 0, or parts above their whole, raise ResponseFormatError.
    """
    u = usage_mapping(value, target)
    if u is None:
        return None
    prompt_details = usage_mapping(u.get("prompt_tokens_details"), target, "usage.prompt_tokens_details")
    completion_details = usage_mapping(u.get("completion_tokens_details"), target,
                                       "usage.completion_tokens_details")
    cached = token_count(prompt_details or _NO_DETAILS, "cached_tokens", target, "usage.prompt_tokens_details")
    return checked_usage(Usage(
        input_tokens=token_count(u, "prompt_tokens", target),
        output_tokens=token_count(u, "completion_tokens", target),
        cached_tokens=cached or token_count(u, "prompt_cache_hit_tokens", target),
        reasoning_tokens=token_count(completion_details or _NO_DETAILS, "reasoning_tokens", target,
                                     "usage.completion_tokens_details")), target)


def _tool_calls(value: Any, target: str, *, deltas: bool = False) -> list[dict[str, Any]] | None:
    """``tool_calls`` of a message (or of a stream delta, with ``index``) in OpenAI's shape, checked."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict)
                                              for c in value):
        raise ResponseFormatError("'tool_calls' is not a list of function calls", target=target)
    out = []
    for i, call in enumerate(value):
        function = call["function"]
        if deltas:  # a piece of a call: only what it carries
            index = call.get("index", i)
            piece: dict[str, Any] = {"index": index if isinstance(index, int) else i,
                                     "function": {"arguments": str(function.get("arguments") or "")}}
            if call.get("id"):
                piece["id"], piece["type"] = str(call["id"]), "function"
            if function.get("name"):
                piece["function"]["name"] = str(function["name"])
            out.append(piece)
            continue
        out.append({"id": str(call.get("id") or ""), "type": "function",
                    "function": {"name": str(function.get("name") or ""),
                                 "arguments": str(function.get("arguments") or "")}})
    return out or None


def parse_logprobs(lp: Any) -> list[TokenLogprob] | None:
    """``choice.logprobs.content`` -> token logprobs with their top alternatives."""
    if not isinstance(lp, dict) or not isinstance(lp.get("content"), list):
        return None
    return [TokenLogprob(token=e.get("token", ""), logprob=e.get("logprob", 0.0),
                         top=[(t.get("token", ""), t.get("logprob", 0.0)) for t in e.get("top_logprobs") or []])
            for e in lp["content"]]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some gateways answer a list of content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


@register_provider
class OpenAIProvider(HTTPProvider):
    """OpenAI chat completions (``kind: openai``) and any server that speaks it."""

    kind = "openai"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        options = settings.options
        self._check_options(options)
        self._url = self._endpoint(settings)
        fixed = {"Content-Type": "application/json"}
        if options.get("organization"):
            fixed["OpenAI-Organization"] = str(options["organization"])
        headers = SecretHeaders.of(fixed, settings.headers)
        self._auth_headers(headers)
        self._headers = headers
        host = urlsplit(self._url).hostname or ""
        self._max_tokens_field: str = options.get(
            "max_tokens_field", "max_completion_tokens" if host == "api.openai.com" else "max_tokens")
        self._stream_usage: bool = bool(options.get("stream_usage", True))

    def _check_options(self, options: dict[str, Any]) -> None:
        """Refuse options this kind does not know (a typo must not be silently ignored)."""
        known = _OPTIONS[self.kind]
        problems = [Problem(f"providers.{self.name}.options.{key}", f"unknown option for kind {self.kind!r}; "
                            f"expected one of: {', '.join(known)}") for key in options if key not in known]
        field = options.get("max_tokens_field", "max_tokens")
        if field not in ("max_tokens", "max_completion_tokens"):
            problems.append(Problem(f"providers.{self.name}.options.max_tokens_field",
                                    "expected 'max_tokens' or 'max_completion_tokens'"))
        if problems:
            raise ConfigError(problems)

    def _endpoint(self, settings: ProviderSettings) -> str:
        root = api_root(settings.base_url or DEFAULT_BASE_URL, "/v1")
        return root if root.endswith("/chat/completions") else root + "/chat/completions"

    def _auth_headers(self, headers: SecretHeaders) -> None:
        if self.settings.api_key is not None and self.settings.api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"

    def _url_for(self, model: str) -> str:
        return self._url

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model, "messages": request.messages}
        body.update(self._sampling(request))
        if request.response_format is not None:
            body["response_format"] = request.response_format
        if request.logprobs:
            body["logprobs"] = True
            if request.top_logprobs is not None:
                body["top_logprobs"] = request.top_logprobs
        if request.tools:
            body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        if stream:
            body["stream"] = True
            if self._stream_usage:
                body["stream_options"] = {"include_usage": True}
        if request.extra:
            body.update(request.extra)
        return body

    def _sampling(self, request: ChatRequest) -> dict[str, Any]:
        """The request's sampling settings that are set: temperature, token limit, stop, seed."""
        fields: dict[str, Any] = {}
        if request.temperature is not None:
            fields["temperature"] = request.temperature
        if request.max_tokens is not None:
            fields[self._max_tokens_field] = request.max_tokens
        if request.stop:
            fields["stop"] = request.stop
        if request.seed is not None:
            fields["seed"] = request.seed
        return fields

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        target = self._target(request.model)
        data = await self._post_json(self._url_for(request.model), self._body(request, False), self._headers,
                                     timeouts, target, request)
        with reading_answer(target, self._secrets):
            if "error" in data and "choices" not in data:  # gateways that answer 200 with an error body
                raise self._embedded_error(data, target)
            choices = data.get("choices")
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                raise ResponseFormatError("response has no 'choices'", target=target)
            choice = choices[0]
            message = choice.get("message") or {}
            text = _content_text(message.get("content"))
            usage = parse_usage(data.get("usage"), target) or self._estimate(request, text, target)
            return ChatResponse(text=text, usage=usage, finish_reason=_str(choice.get("finish_reason")),
                                logprobs=parse_logprobs(choice.get("logprobs")), model=_str(data.get("model")),
                                raw=data, tool_calls=_tool_calls(message.get("tool_calls"), target))

    def stream(self, request: ChatRequest, *, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        return guard_stream(self._stream(request, timeouts), self._target(request.model))

    async def embed(self, model: str, inputs: list[str], *, timeouts: Timeouts) -> EmbeddingResponse:
        """``POST {base_url}/embeddings`` (the chat URL's sibling; Azure: the deployment's)."""
        target = self._target(model)
        url = self._url_for(model).replace("/chat/completions", "/embeddings", 1)
        data = await self._post_json(url, {"model": model, "input": inputs}, self._headers, timeouts, target)
        with reading_answer(target, self._secrets):
            if "error" in data and "data" not in data:
                raise self._embedded_error(data, target)
            usage = parse_usage(data.get("usage"), target) or Usage(
                input_tokens=sum(len(t) for t in inputs) // 4 + 1, estimated=True)
            usage.output_tokens = 0
            return EmbeddingResponse(openai_vectors(data, len(inputs), target), usage, _str(data.get("model")))

    async def _stream(self, request: ChatRequest, timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        target = self._target(request.model)
        done = False
        finish: str | None = None
        reported = False
        chars = 0
        events = self._post_sse(self._url_for(request.model), self._body(request, True), self._headers,
                                timeouts, target, request)
        with reading_answer(target, self._secrets):
            async for _event, data in events:
                if data == "[DONE]":
                    done = True
                    continue
                obj = loads_event(data, target, self._secrets)
                if "error" in obj:
                    raise self._embedded_error(obj, target)
                usage = parse_usage(obj.get("usage"), target)
                reported = reported or usage is not None
                choices = obj.get("choices") or []
                choice = choices[0] if choices and isinstance(choices[0], dict) else {}
                delta = choice.get("delta") or {}
                text = _content_text(delta.get("content"))
                chars += len(text)
                logprobs = parse_logprobs(choice.get("logprobs"))
                reason = _str(choice.get("finish_reason"))
                finish = reason or finish
                calls = _tool_calls(delta.get("tool_calls"), target, deltas=True)
                if text or reason or usage or logprobs or calls:
                    yield StreamChunk(text=text, usage=usage, finish_reason=reason, logprobs=logprobs,
                                      tool_calls=calls)
        if not done and finish is None:
            raise APIConnectionError("stream ended without [DONE] or a finish reason", target=target)
        if not reported:  # the server ignored stream_options.include_usage (or it is turned off)
            yield StreamChunk(usage=self._estimate(request, chars, target))

    def _embedded_error(self, data: dict[str, Any], target: str) -> Exception:
        err = data.get("error")
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        return status_error(status, json.dumps(data), {}, target, self._secrets)


@register_provider
class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI (``kind: azure``): deployment URLs, ``api-version`` and the ``api-key`` header."""

    kind = "azure"

    def _endpoint(self, settings: ProviderSettings) -> str:
        if not settings.base_url:
            raise ConfigError(Problem(f"providers.{self.name}.base_url",
                                      "required for kind 'azure' (e.g. https://NAME.openai.azure.com)"))
        self._api_version = settings.api_version or DEFAULT_AZURE_API_VERSION
        self._deployment: str | None = settings.options.get("azure_deployment") or None
        self._urls: dict[str, str] = {}
        return settings.base_url.rstrip("/") + "/openai/deployments/{model}/chat/completions"

    def _auth_headers(self, headers: SecretHeaders) -> None:
        if self.settings.api_key is not None and self.settings.api_key.get_secret_value():
            headers["api-key"] = self.settings.api_key.get_secret_value()

    def _url_for(self, model: str) -> str:
        url = self._urls.get(model)
        if url is None:
            deployment = self._deployment or model
            url = self._urls[model] = (self._url.replace("{model}", quote(deployment, safe=""))
                                       + f"?api-version={quote(self._api_version)}")
        return url


__all__ = ["OpenAIProvider", "AzureOpenAIProvider", "parse_usage", "parse_logprobs", "DEFAULT_BASE_URL"]
