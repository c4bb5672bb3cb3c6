"""The request a call sends: the caller's messages with the role's settings applied.

The role's ``temperature`` and ``max_tokens`` apply unless the call sets its own. Image parts
(OpenAI's ``{"type": "image_url", "image_url": {"url": ...}}``) are sent only to roles with the
``vision`` modality (:class:`~tierflow.errors.VisionModalityError` names the message otherwise).
``tools`` and ``tool_choice`` keywords (OpenAI's shapes) become the request's portable tool fields,
which each provider maps (README, "Tools"). Its
``system_context`` (the role's "system prompt override") is placed before the prompt's own leading
system message(s), joined into one system message, so both apply (:func:`with_system_context`);
the README's "Calls" section states the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from tierflow.errors import VisionModalityError
from tierflow.types import ChatRequest, Message

if TYPE_CHECKING:
    from tierflow.calls.plan import Plan


class Sampling(NamedTuple):
    """A call's request parameters, as :func:`build_request` takes them after the plan and the messages."""

    temperature: float | None
    max_tokens: int | None
    stop: str | list[str] | None
    response_format: dict[str, Any] | None
    logprobs: bool
    top_logprobs: int | None
    seed: int | None
    extra: dict[str, Any]


def build_request(plan: Plan, messages: list[Message] | str, temperature: float | None, max_tokens: int | None,
                  stop: str | list[str] | None, response_format: dict[str, Any] | None, logprobs: bool,
                  top_logprobs: int | None, seed: int | None, extra: dict[str, Any]) -> ChatRequest:
    """The :class:`~tierflow.types.ChatRequest` of one call of ``plan`` (its model set per attempt)."""
    if isinstance(messages, str):
        msgs: list[Message] = [{"role": "user", "content": messages}]
    elif isinstance(messages, list):
        msgs = messages
    else:
        raise TypeError(f"messages must be a str or a list of {{'role', 'content'}} dicts, "
                        f"got {type(messages).__name__}")
    tools = extra.get("tools")
    tool_choice = extra.get("tool_choice")
    rest = {k: v for k, v in extra.items() if k not in ("tools", "tool_choice")} if tools or tool_choice else extra
    if plan.modalities and "vision" not in plan.modalities:
        _refuse_images(plan, msgs)
    if plan.system_context:
        msgs = with_system_context(plan.system_context, msgs)
    return ChatRequest(model="", messages=msgs, temperature=plan.temperature if temperature is None else temperature,
                       max_tokens=plan.max_tokens if max_tokens is None else max_tokens,
                       stop=[stop] if isinstance(stop, str) else stop,
                       response_format=response_format, logprobs=logprobs, top_logprobs=top_logprobs, seed=seed,
                       extra=rest, tools=tools, tool_choice=tool_choice)


def _refuse_images(plan: Plan, messages: list[Message]) -> None:
    for i, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            raise VisionModalityError(plan.role or plan.name, i, list(plan.modalities))


def with_system_context(context: str, messages: list[Message]) -> list[Message]:
    """``messages`` with the role's system ``context`` first: joined with the prompt's leading system
    message(s) into one system message (blank line between), or as a new first system message.

    Both apply: the role's context says who the model is for every call of the role, the prompt's
    own system message what this call needs. Providers that take one system prompt (Anthropic,
    Gemini) get both. System messages later in the conversation stay where they are.
    """
    n = 0
    while n < len(messages) and messages[n].get("role") == "system":
        n += 1
    if n == 0:
        return [{"role": "system", "content": context}, *messages]
    contents = [m.get("content") for m in messages[:n]]
    joined: str | list[dict[str, Any]]
    if all(isinstance(c, str) for c in contents):
        joined = "\n\n".join([context, *(c for c in contents if c)])
    else:  # content parts: the context becomes the first text part
        joined = [{"type": "text", "text": context}]
        for c in contents:
            if isinstance(c, str):
                joined.append({"type": "text", "text": c})
            elif isinstance(c, list):
                joined.extend(c)
    return [{"role": "system", "content": joined}, *messages[n:]]


__all__ = ["Sampling", "build_request", "with_system_context"]
