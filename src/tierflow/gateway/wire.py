"""OpenAI's chat completions wire format, in and out (docs/gateway.md lists what is supported).

:func:`parse_chat` checks a request body and turns it into the arguments of
:meth:`tierflow.Client.acall` / ``astream``; every parameter the library cannot honour is refused
with a 400 naming it (never silently ignored), and unknown ones get OpenAI's own "Unrecognized
request argument". The ``*_body`` functions build the JSON the OpenAI SDK expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierflow.errors import GatewayError
from tierflow.gateway.tools import parse_tools, tool_calls
from tierflow.types import CallResult, Message, TokenLogprob, Usage

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_LATER = ("functions", "function_call")
"""OpenAI's deprecated function parameters: refused, naming the parameter (send ``tools``)."""
_TOOLS = ("tools", "tool_choice", "parallel_tool_calls")
_SAMPLING = {"top_p": (0.0, 1.0), "frequency_penalty": (-2.0, 2.0), "presence_penalty": (-2.0, 2.0)}
"""Sampling parameters passed to the library by OpenAI's name: providers map them (Gemini) or
refuse them with a 400 naming the parameter (Anthropic has no penalties)."""


@dataclass(slots=True)
class ChatCall:
    """A checked chat request: what to call and how."""

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    user: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``Client.acall`` / ``astream`` (temperature, max_tokens, stop...)."""


def _bad(param: str, message: str, code: str | None = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def _number(body: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise _bad(name, f"'{name}' must be a number from {lo:g} to {hi:g}, got {value!r}")
    return float(value)


def _integer(body: Mapping[str, Any], name: str, lo: int, hi: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        limit = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise _bad(name, f"'{name}' must be an integer {limit}, got {value!r}")
    return value


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(name, f"'{name}' must be true or false, got {value!r}")
    return value


def _content(value: Any, where: str) -> str | list[dict[str, Any]]:
    """A message's content: a string, text parts joined, or (with image parts) the parts as sent,
    which the library gives to roles with the ``vision`` modality and refuses for others."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts: list[str] = []
        parts: list[dict[str, Any]] = []
        for j, part in enumerate(value):
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                raise _bad(f"{where}[{j}]", f"'{where}[{j}]' must be a content part with a 'type'")
            if part["type"] == "image_url":
                parts.append({"type": "image_url", "image_url": {"url": _image_url(part, f"{where}[{j}]")}})
                continue
            if part["type"] != "text":
                raise _bad(f"{where}[{j}].type", f"content parts of type {part['type']!r} are not supported by "
                           "this gateway; send text or image_url parts", "unsupported_value")
            if not isinstance(part.get("text"), str):
                raise _bad(f"{where}[{j}].text", f"'{where}[{j}].text' must be a string")
            texts.append(part["text"])
            parts.append({"type": "text", "text": part["text"]})
        return parts if len(parts) > len(texts) else "\n".join(texts)
    raise _bad(where, f"'{where}' must be a string or a list of content parts, got {type(value).__name__}")


def _image_url(part: Mapping[str, Any], where: str) -> str:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, Mapping) else None
    if not isinstance(url, str) or not url.startswith(("data:image/", "https://", "http://")):
        raise _bad(f"{where}.image_url.url", f"'{where}.image_url.url' must be a 'data:image/...;base64,' URL or an "
                   "http(s) URL")
    return url


def _messages(value: Any, limit: int) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise _bad("messages", "'messages' must be a non-empty list of {role, content} objects")
    if len(value) > limit:
        raise _bad("messages", f"'messages' has {len(value)} entries; this gateway accepts at most {limit}",
                   "too_many_messages")
    out: list[Message] = []
    for i, msg in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise _bad(where, f"'{where}' must be an object with 'role' and 'content'")
        role = msg.get("role")
        if role not in _ROLES:
            raise _bad(f"{where}.role", f"'{where}.role' must be one of {sorted(_ROLES)}, got {role!r}")
        out.append(_message(msg, role, where))
    return out


_FIELDS = {"tool": ("role", "content", "tool_call_id"), "assistant": ("role", "content", "tool_calls")}


def _message(msg: Mapping[str, Any], role: str, where: str) -> Message:
    allowed = _FIELDS.get(role, ("role", "content"))
    for key in msg:
        if key not in allowed:
            raise _bad(f"{where}.{key}", f"'{where}.{key}' is not supported by this gateway (a {role} message has "
                       f"{', '.join(repr(k) for k in allowed)})", "unsupported_parameter")
    out: Message = {"role": _ROLES[role]}
    if role == "assistant" and msg.get("tool_calls") is not None:
        out["tool_calls"] = tool_calls(msg["tool_calls"], f"{where}.tool_calls")
        out["content"] = None if msg.get("content") is None else _content(msg["content"], f"{where}.content")
        return out
    if role == "tool":
        if not isinstance(msg.get("tool_call_id"), str):
            raise _bad(f"{where}.tool_call_id", f"'{where}.tool_call_id' is required: the id of the call it answers")
        out["tool_call_id"] = msg["tool_call_id"]
    if "content" not in msg or msg["content"] is None:
        raise _bad(f"{where}.content", f"'{where}.content' is required")
    out["content"] = _content(msg["content"], f"{where}.content")
    return out


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
        raise _bad("stop", "'stop' must be a string or a list of at most 4 strings")
    return stops or None


def _response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str) \
                or not isinstance(spec.get("schema", {}), Mapping):
            raise _bad("response_format.json_schema", "'response_format.json_schema' must be an object with a "
                       "'name' and a 'schema' object")
        return {"type": "json_schema", "json_schema": dict(spec)}
    raise _bad("response_format.type", "'response_format.type' must be 'text', 'json_object' or 'json_schema'")


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    legacy = _integer(body, "max_tokens", 1)
    current = _integer(body, "max_completion_tokens", 1)
    if legacy is not None and current is not None and legacy != current:
        raise _bad("max_tokens", "send either 'max_tokens' or 'max_completion_tokens', not both")
    return current if current is not None else legacy


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    for name in _LATER:
        if body.get(name) is not None:
            raise GatewayError(400, f"'{name}' is not supported by this gateway: send 'tools' and 'tool_choice'",
                               param=name, code="unsupported_parameter")
    n = body.get("n")
    if n is not None and n != 1:
        raise GatewayError(400, f"'n' must be 1: this gateway returns one choice per request (got {n!r})",
                           param="n", code="unsupported_parameter")
    if body.get("store"):
        raise GatewayError(400, "'store' is not supported by this gateway", param="store",
                           code="unsupported_parameter")


_KNOWN = frozenset({"model", "messages", "stream", "stream_options", "temperature", "max_tokens",
                    "max_completion_tokens", "stop", "seed", "response_format", "logprobs", "top_logprobs",
                    "user", "n", "store", *_LATER, *_SAMPLING, *_TOOLS})


def request_fields(body: Any, known: frozenset[str]) -> Mapping[str, Any]:
    """``body`` as a JSON object whose fields are all ``known`` (OpenAI's own 400 naming any other)."""
    if not isinstance(body, Mapping):
        raise GatewayError(400, "the request body must be a JSON object", code="invalid_json")
    for name in body:
        if name not in known:
            raise GatewayError(400, f"Unrecognized request argument supplied: {name}", param=name,
                               code="unknown_parameter")
    return body


def parse_chat(body: Any, max_messages: int) -> ChatCall:
    """Check an OpenAI chat completions request; raise :class:`GatewayError` (400) naming the parameter."""
    body = request_fields(body, _KNOWN)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "'model' is required: a role, a routed role or (where allowed) 'provider/model'")
    _refuse_unsupported(body)
    call = ChatCall(model=model, messages=_messages(body.get("messages"), max_messages), stream=_flag(body, "stream"))
    options = body.get("stream_options")
    if options is not None:
        if not call.stream:
            raise _bad("stream_options", "'stream_options' is only allowed when 'stream' is true")
        if not isinstance(options, Mapping) or any(k != "include_usage" for k in options):
            raise _bad("stream_options", "'stream_options' supports only 'include_usage'")
        call.include_usage = _flag(options, "include_usage")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "'user' must be a string")
    call.user = user
    logprobs = _flag(body, "logprobs")
    top = _integer(body, "top_logprobs", 0, 20)
    if top is not None and not logprobs:
        raise _bad("top_logprobs", "'top_logprobs' needs 'logprobs': true")
    opts = {"temperature": _number(body, "temperature", 0, 2), "max_tokens": _max_tokens(body),
            "stop": _stop(body.get("stop")), "seed": _integer(body, "seed", -(2**63)),
            "response_format": _response_format(body.get("response_format")), "top_logprobs": top}
    opts.update({name: _number(body, name, lo, hi) for name, (lo, hi) in _SAMPLING.items()})
    call.options = {k: v for k, v in opts.items() if v is not None}
    if logprobs:
        call.options["logprobs"] = True
    call.options.update(parse_tools(body))
    return call


# --- answers ------------------------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, Any]:
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


def logprobs_body(logprobs: list[TokenLogprob] | None) -> dict[str, Any] | None:
    if not logprobs:
        return None
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()),
                         "top_logprobs": [{"token": tok, "logprob": lp, "bytes": list(tok.encode())}
                                          for tok, lp in t.top]} for t in logprobs]}


def completion_body(cid: str, created: int, result: CallResult) -> dict[str, Any]:
    """A ``chat.completion`` whose ``model`` is the concrete ``provider/model`` that answered."""
    message: dict[str, Any] = {"role": "assistant", "content": result.text, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
        message["content"] = result.text or None
    return {"id": cid, "object": "chat.completion", "created": created, "model": result.model_used,
            "choices": [{"index": 0, "message": message,
                         "logprobs": logprobs_body(result.logprobs),
                         "finish_reason": result.finish_reason or "stop"}],
            "usage": usage_body(result.usage), "system_fingerprint": None}


def chunk_body(cid: str, created: int, model: str, delta: dict[str, Any], finish_reason: str | None = None,
               logprobs: list[TokenLogprob] | None = None) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs_body(logprobs),
                         "finish_reason": finish_reason}]}


def error_body(exc: GatewayError) -> dict[str, Any]:
    return {"error": {"message": str(exc), "type": exc.kind, "param": exc.param, "code": exc.code}}



__all__ = ["ChatCall", "parse_chat", "request_fields", "usage_body", "logprobs_body", "completion_body", "chunk_body",
           "error_body"]
