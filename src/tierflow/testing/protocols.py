"""The three wire formats the test server speaks: OpenAI chat completions, Anthropic Messages, Gemini.

Each protocol turns a request body into a :class:`~tierflow.testing.wire.Prompt` and a
:class:`~tierflow.testing.wire.Reply` into a JSON body or SSE events, split into ``pre`` /
``content`` / ``post`` events so the server can slow down or cut the content part only.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tierflow.testing.wire import Prompt, Reply, WireError, pick_tool, text_of
from tierflow.testing.wire import dumps as _dumps
from tierflow.testing.wire import words as _words

Events = tuple[list[bytes], list[bytes], list[bytes]]


class OpenAIWire:
    """``POST /v1/chat/completions`` (and Azure's deployment route)."""

    name = "openai"

    def parse(self, body: dict[str, Any], model: str | None = None) -> Prompt:
        messages = body.get("messages")
        model = model or body.get("model")
        if not isinstance(messages, list) or not messages:
            raise WireError("'messages' must be a non-empty array")
        if not model:
            raise WireError("'model' is required")
        texts = [text_of(m.get("content")) for m in messages if isinstance(m, dict)]
        users = [text_of(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        stop = body.get("stop") or []
        fmt = body.get("response_format") or {}
        schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
        choice = body.get("tool_choice")
        functions = [t.get("function") or {} for t in body.get("tools") or []]
        tool = pick_tool([(str(f.get("name") or ""), f.get("parameters")) for f in functions],
                         choice if isinstance(choice, str) else "auto",
                         (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None,
                         isinstance(messages[-1], dict) and messages[-1].get("role") == "tool")
        return Prompt(model=model, last_user=users[-1] if users else "", input_words=_words(*texts),
                      stream=bool(body.get("stream")),
                      include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
                      max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
                      stop=[stop] if isinstance(stop, str) else list(stop),
                      json_mode=tool is not None or fmt.get("type") in ("json_object", "json_schema"),
                      schema=(tool[1] or {"type": "object"}) if tool else schema, tool_name=tool and tool[0],
                      logprobs=bool(body.get("logprobs")), top_logprobs=int(body.get("top_logprobs") or 0))

    def _usage(self, r: Reply) -> dict[str, Any]:
        if r.usage_override is not None:
            return r.usage_override
        usage: dict[str, Any] = {"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens,
                                 "total_tokens": r.input_tokens + r.output_tokens}
        if r.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": r.cached_tokens}
        if r.reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": r.reasoning_tokens}
        return usage

    def _logprobs(self, entries: list[tuple[str, float, list[tuple[str, float]]]]) -> dict[str, Any]:
        return {"content": [{"token": t, "logprob": lp, "bytes": list(t.encode()),
                             "top_logprobs": [{"token": a, "logprob": alp, "bytes": list(a.encode())}
                                              for a, alp in alts]} for t, lp, alts in entries]}

    def complete(self, p: Prompt, r: Reply) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": r.text},
                                  "finish_reason": r.finish_reason, "logprobs": None}
        if p.tool_name:
            choice["message"] = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_test", "type": "function", "function": {"name": p.tool_name, "arguments": r.text}}]}
            choice["finish_reason"] = "tool_calls"
        if p.logprobs:
            choice["logprobs"] = self._logprobs(r.logprobs(p.top_logprobs))
        body = {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": p.model, "choices": [choice]}
        if r.usage:
            body["usage"] = self._usage(r)
        return body

    def events(self, p: Prompt, r: Reply) -> Events:
        head = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": p.model}

        def chunk(delta: dict[str, Any], finish: str | None = None, lp: Any = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": lp}
            return b"data: " + _dumps({**head, "choices": [choice]}) + b"\n\n"

        lps = r.logprobs(p.top_logprobs) if p.logprobs else None
        pre = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"content": piece}, lp=self._logprobs([lps[i]]) if lps else None)
                   for i, piece in enumerate(r.pieces)]
        post = [chunk({}, r.finish_reason)]
        if p.tool_name:  # the call's id and name first, then its arguments piece by piece
            pre.append(chunk({"tool_calls": [{"index": 0, "id": "call_test", "type": "function",
                                              "function": {"name": p.tool_name, "arguments": ""}}]}))
            content = [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in r.pieces]
            post = [chunk({}, "tool_calls")]
        if p.include_usage and r.usage:
            post.append(b"data: " + _dumps({**head, "choices": [], "usage": self._usage(r)}) + b"\n\n")
        post.append(b"data: [DONE]\n\n")
        return pre, content, post

    def error(self, code: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        kind = "rate_limit_exceeded" if code == 429 else "invalid_request_error" if code < 500 else "server_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


_ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                     404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                     529: "overloaded_error"}


class AnthropicWire:
    """``POST /v1/messages``; structured output through a forced tool (``tool_choice``)."""

    name = "anthropic"

    def parse(self, body: dict[str, Any], model: str | None = None) -> Prompt:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError("messages: Field required (a non-empty list)")
        if not body.get("model"):
            raise WireError("model: Field required")
        if not isinstance(body.get("max_tokens"), int):
            raise WireError("max_tokens: Field required")
        if any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
            raise WireError("messages: Unexpected role \"system\"; use the top-level `system` parameter")
        texts = [text_of(m.get("content")) for m in messages] + [text_of(body.get("system"))]
        users = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
        choice = body.get("tool_choice") or {}
        last = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        after_result = isinstance(last, list) and any(isinstance(b, dict) and b.get("type") == "tool_result"
                                                      for b in last)
        kind = str(choice.get("type") or "auto")
        picked = pick_tool([(str(t.get("name") or ""), t.get("input_schema")) for t in body.get("tools", [])],
                           {"any": "required"}.get(kind, kind),
                           choice.get("name") if choice.get("type") == "tool" else None, after_result)
        tool = picked[0] if picked else None
        schema = (picked[1] or {"type": "object"}) if picked else None
        return Prompt(model=body["model"], last_user=users[-1] if users else "",
                      input_words=_words(*texts), stream=bool(body.get("stream")), include_usage=True,
                      max_tokens=body["max_tokens"], stop=list(body.get("stop_sequences") or []),
                      json_mode=tool is not None, schema=schema, json_tool=tool)

    def _stop_reason(self, p: Prompt, r: Reply) -> str:
        if p.json_tool:
            return "tool_use"
        return "max_tokens" if r.finish_reason == "length" else "end_turn"

    def _usage(self, r: Reply, output: int) -> dict[str, Any]:
        if r.usage_override is not None:
            return r.usage_override
        usage: dict[str, Any] = {
            "input_tokens": r.input_tokens - r.cached_tokens - r.cache_write_tokens, "output_tokens": output,
            "cache_read_input_tokens": r.cached_tokens, "cache_creation_input_tokens": r.cache_write_tokens}
        if r.cache_write_1h_tokens:
            usage["cache_creation"] = {"ephemeral_5m_input_tokens": r.cache_write_tokens - r.cache_write_1h_tokens,
                                       "ephemeral_1h_input_tokens": r.cache_write_1h_tokens}
        return usage

    def _block(self, p: Prompt, r: Reply) -> dict[str, Any]:
        if p.json_tool:
            try:
                return {"type": "tool_use", "id": "toolu_test", "name": p.json_tool, "input": json.loads(r.text)}
            except ValueError:
                pass
        return {"type": "text", "text": r.text}

    def complete(self, p: Prompt, r: Reply) -> dict[str, Any]:
        body: dict[str, Any] = {"id": "msg_test", "type": "message", "role": "assistant", "model": p.model,
                                "content": [self._block(p, r)], "stop_reason": self._stop_reason(p, r),
                                "stop_sequence": None}
        if r.usage:
            body["usage"] = self._usage(r, r.output_tokens)
        return body

    def events(self, p: Prompt, r: Reply) -> Events:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + _dumps({"type": name, **data}) + b"\n\n"

        message: dict[str, Any] = {"id": "msg_test", "type": "message", "role": "assistant", "model": p.model,
                                   "content": [], "stop_reason": None, "stop_sequence": None}
        final: dict[str, Any] = {"delta": {"stop_reason": self._stop_reason(p, r), "stop_sequence": None}}
        if r.usage:
            message["usage"] = self._usage(r, 1)
            final["usage"] = r.usage_override if r.usage_override is not None else {"output_tokens": r.output_tokens}
        tool = bool(p.json_tool)
        block: dict[str, Any] = ({"type": "tool_use", "id": "toolu_test", "name": p.json_tool, "input": {}} if tool
                 else {"type": "text", "text": ""})
        pre = [event("message_start", {"message": message}),
               event("content_block_start", {"index": 0, "content_block": block}), event("ping", {})]
        content = [event("content_block_delta", {"index": 0, "delta": (
            {"type": "input_json_delta", "partial_json": piece} if tool else {"type": "text_delta", "text": piece})})
            for piece in r.pieces]
        post = [event("content_block_stop", {"index": 0}),
                event("message_delta", final),
                event("message_stop", {})]
        return pre, content, post

    def error(self, code: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        kind = _ANTHROPIC_ERRORS.get(code, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


_GEMINI_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class GeminiWire:
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""

    name = "gemini"

    def parse(self, body: dict[str, Any], model: str | None = None) -> Prompt:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise WireError("contents is not specified")
        system = text_of((body.get("systemInstruction") or {}).get("parts"))
        texts = [text_of(c.get("parts")) for c in contents] + [system]
        users = [text_of(c.get("parts")) for c in contents if c.get("role", "user") == "user"]
        cfg = body.get("generationConfig") or {}
        schema = cfg.get("responseSchema") or cfg.get("responseJsonSchema")
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        allowed = calling.get("allowedFunctionNames") or [None]
        last = contents[-1].get("parts") or [] if isinstance(contents[-1], dict) else []
        tool = pick_tool([(str(d.get("name") or ""), d.get("parameters")) for t in body.get("tools") or []
                          for d in t.get("functionDeclarations") or []],
                         {"ANY": "required", "NONE": "none"}.get(str(calling.get("mode")), "auto"), allowed[0],
                         any(isinstance(x, dict) and "functionResponse" in x for x in last))
        return Prompt(model=model or "", last_user=users[-1] if users else "", input_words=_words(*texts),
                      include_usage=True, max_tokens=cfg.get("maxOutputTokens"),
                      stop=list(cfg.get("stopSequences") or []), tool_name=tool and tool[0],
                      json_mode=tool is not None or cfg.get("responseMimeType") == "application/json",
                      schema=(tool[1] or {"type": "object"}) if tool else schema,
                      logprobs=bool(cfg.get("responseLogprobs")), top_logprobs=int(cfg.get("logprobs") or 0))

    def _usage(self, r: Reply) -> dict[str, Any]:
        if r.usage_override is not None:
            return r.usage_override
        usage = {"promptTokenCount": r.input_tokens, "candidatesTokenCount": r.output_tokens - r.reasoning_tokens,
                 "totalTokenCount": r.input_tokens + r.output_tokens}
        if r.cached_tokens:
            usage["cachedContentTokenCount"] = r.cached_tokens
        if r.reasoning_tokens:
            usage["thoughtsTokenCount"] = r.reasoning_tokens
        return usage

    def _response(self, p: Prompt, r: Reply, text: str, finish: str | None,
                  lps: list[tuple[str, float, list[tuple[str, float]]]] | None) -> dict[str, Any]:
        part: dict[str, Any] = {"text": text}
        if p.tool_name and text:
            part = {"functionCall": {"name": p.tool_name, "args": json.loads(text)}}
        cand: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
        if finish:
            cand["finishReason"] = "MAX_TOKENS" if finish == "length" else "STOP"
        if lps:
            cand["logprobsResult"] = {
                "chosenCandidates": [{"token": t, "logProbability": lp} for t, lp, _ in lps],
                "topCandidates": [{"candidates": [{"token": a, "logProbability": alp} for a, alp in alts]}
                                  for _, _, alts in lps]}
        body: dict[str, Any] = {"candidates": [cand], "modelVersion": p.model}
        if r.usage:
            body["usageMetadata"] = self._usage(r)
        return body

    def complete(self, p: Prompt, r: Reply) -> dict[str, Any]:
        lps = r.logprobs(p.top_logprobs) if p.logprobs else None
        return self._response(p, r, r.text, r.finish_reason, lps)

    def events(self, p: Prompt, r: Reply) -> Events:
        lps = r.logprobs(p.top_logprobs) if p.logprobs else None

        def event(data: dict[str, Any]) -> bytes:
            return b"data: " + _dumps(data) + b"\r\n\r\n"

        if p.tool_name:  # a function call arrives whole
            content = [event(self._response(p, r, r.text, None, None))]
        else:
            content = [event(self._response(p, r, piece, None, [lps[i]] if lps else None))
                       for i, piece in enumerate(r.pieces)]
        return [], content, [event(self._response(p, r, "", r.finish_reason, None))]

    def error(self, code: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"code": code, "message": message, "status": _GEMINI_STATUS.get(code, "UNKNOWN")}
        if retry_after is not None:
            err["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"}]
        return {"error": err}


Wire = OpenAIWire | AnthropicWire | GeminiWire

__all__ = ["OpenAIWire", "AnthropicWire", "GeminiWire", "Wire", "Events"]
