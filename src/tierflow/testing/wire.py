"""What the test server understood of a request (:class:`Prompt`) and what it answers (:class:`Reply`).

Protocol-neutral: :mod:`tierflow.testing.protocols` turns request bodies into prompts and replies
into each protocol's JSON bodies and SSE events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tierflow.errors import WireError
from tierflow.testing.behaviours import Answer

_PIECE_RE = re.compile(r"\s*\S+")


@dataclass(slots=True)
class Prompt:
    """What the server understood of one request, in protocol-neutral terms."""

    model: str
    last_user: str
    input_words: int
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    json_mode: bool = False
    schema: dict[str, Any] | None = None
    json_tool: str | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    tool_name: str | None = None
    """The tool the answer calls (OpenAI and Gemini formats; Anthropic uses ``json_tool``): the
    reply's text is then its JSON arguments."""


@dataclass(slots=True)
class Reply:
    """The answer to send: its text split into stream pieces, token counts, finish reason."""

    text: str
    pieces: list[str]
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    finish_reason: str  # "stop" or "length"
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    usage: bool = True
    """False: the answer carries no usage at all."""
    usage_override: dict[str, Any] | None = None
    """Sent verbatim as the protocol's usage object."""

    def logprobs(self, top: int) -> list[tuple[str, float, list[tuple[str, float]]]]:
        """Deterministic per-piece logprobs with ``top`` alternatives."""
        out = []
        for i, piece in enumerate(self.pieces):
            lp = -0.01 * (1 + i % 5)
            alts = [(piece, lp)] + [(f"{piece.strip()}~{k}", lp - k) for k in range(1, top)]
            out.append((piece, lp, alts[:top]))
        return out


def text_of(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of parts with ``text`` fields."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def example_from_schema(schema: Any) -> Any:
    """A small value valid for a (simple) JSON schema, used to answer structured-output requests."""
    if not isinstance(schema, dict):
        return {}
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = _schema_type(schema)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example_from_schema(v) for k, v in props.items()}
    examples: dict[Any, Any] = {"array": [], "string": "text", "integer": 1, "number": 1.5, "boolean": True,
                                "null": None}
    return examples.get(kind, "text")


def pick_tool(tools: list[tuple[str, Any]], mode: str, named: str | None, after_result: bool
              ) -> tuple[str, Any] | None:
    """The tool the test server calls: the named one, else the first one unless ``mode`` is ``none``
    or the conversation ends with a tool result (then it answers in text). ``(name, parameters)``."""
    if named is not None:
        return next(((n, s) for n, s in tools if n == named), None)
    if not tools or mode == "none" or (after_result and mode != "required"):
        return None
    return tools[0]


def _schema_type(schema: dict[str, Any]) -> Any:
    """The schema's ``type`` in lower case; of a list of types, the first that is not ``null``."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return kind.lower() if isinstance(kind, str) else kind


def make_reply(prompt: Prompt, answer: Answer | None, text: str | None = None) -> Reply:
    """Build the reply for ``prompt``; explicit ``text`` (or ``answer.text``) wins over the default."""
    answer = answer or Answer()
    text = text if text is not None else answer.text
    if text is None:
        if prompt.schema is not None:
            text = json.dumps(example_from_schema(prompt.schema))
        elif prompt.json_mode:
            text = json.dumps({"answer": f"echo: {prompt.last_user}"})
        else:
            text = f"echo: {prompt.last_user}"
    finish = answer.finish_reason or "stop"
    for stop in prompt.stop:
        if stop and stop in text:
            text, finish = text[:text.index(stop)], "stop"
    pieces = _PIECE_RE.findall(text) or ([text] if text else [])
    if prompt.max_tokens is not None and len(pieces) > prompt.max_tokens:
        pieces, finish = pieces[:prompt.max_tokens], "length"
        text = "".join(pieces)
    reasoning = answer.reasoning_tokens
    return Reply(text=text, pieces=pieces,
                 input_tokens=answer.input_tokens if answer.input_tokens is not None else prompt.input_words,
                 output_tokens=(answer.output_tokens if answer.output_tokens is not None
                                else len(pieces) + reasoning),
                 cached_tokens=answer.cached_tokens, reasoning_tokens=reasoning, finish_reason=finish,
                 cache_write_tokens=answer.cache_write_tokens, cache_write_1h_tokens=answer.cache_write_1h_tokens,
                 usage=answer.usage, usage_override=answer.usage_override)


def words(*texts: str) -> int:
    """Whitespace word count: the test server's deterministic stand-in for a token count."""
    return sum(len(t.split()) for t in texts)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


__all__ = ["WireError", "Prompt", "Reply", "make_reply", "pick_tool", "example_from_schema", "text_of", "words",
           "dumps"]
