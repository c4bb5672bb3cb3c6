"""What every pattern shares: the node form, the standalone form and the result.

A pattern is a graph node (kind ``pattern``) when created inside ``with GraphNode(...)``, and a
plain object otherwise: ``await Cascade(cheap="fast", strong="primary").run("question")``.
Either way it reads ``messages`` (a list of chat messages or a string; ``query`` also works) and
returns a :class:`PatternResult` that says which model answered and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tierflow import _trace_frame
from tierflow.graph.base import Node
from tierflow.types import CallResult, Message, Usage

RoleRef = tuple[str, str, str]
"""``(setting path, role name, "chat" | "routed")``: one role a pattern names."""

PATTERN_OUTPUTS = ("content", "model_used", "role", "confidence", "reason", "escalated", "cost_usd",
                   "usage", "details", "result")


@dataclass(slots=True)
class PatternResult:
    """The outcome of a pattern: the answer, who gave it, how sure, why, and what it cost."""

    content: str | None
    model_used: str | None
    role: str | None
    reason: str
    confidence: float | None = None
    escalated: bool = False
    calls: list[CallResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float | None:
        """Total cost of every call made (None if any call's price is unknown)."""
        costs = [c.cost_usd for c in self.calls]
        return None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]

    @property
    def usage(self) -> Usage:
        total = Usage()
        for c in self.calls:
            total = total + c.usage
        return total

    def outputs(self) -> dict[str, Any]:
        """The node outputs (see :data:`PATTERN_OUTPUTS`)."""
        return {"content": self.content, "model_used": self.model_used, "role": self.role,
                "confidence": self.confidence, "reason": self.reason, "escalated": self.escalated,
                "cost_usd": self.cost_usd, "usage": self.usage, "details": self.details,
                "result": self}


def as_messages(value: Any) -> list[Message]:
    """A string becomes one user message; a list of messages is used as is."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, Sequence) and all(isinstance(m, Mapping) for m in value):
        return [dict(m) for m in value]
    raise TypeError(f"expected a string or a list of chat messages, got {type(value).__name__}")


def last_user_text(messages: list[Message]) -> str:
    for m in reversed(messages):
        content = m.get("content")
        if m.get("role") == "user" and isinstance(content, str):
            return content
    return ""


class Pattern(Node):
    """Base of the patterns: a node in a graph, or a standalone object with :meth:`run`."""

    kind = "pattern"
    pattern_name = "pattern"
    produces = PATTERN_OUTPUTS

    def __init__(self, name: str | None = None, *, inputs: Mapping[str, Any] | None = None,
                 outputs: Mapping[str, Any] | None = None, on_error: Any = None,
                 client: Any = None, **call_params: Any) -> None:
        self.client = client
        self.call_params = {k: v for k, v in call_params.items() if v is not None}
        super().__init__(name or self.pattern_name, inputs=inputs, outputs=outputs, on_error=on_error)

    async def run(self, messages: list[Message] | str, *, client: Any = None, tracer: Any = None) -> PatternResult:
        """Run standalone. ``client`` defaults to the pattern's own, then the default client.
        ``tracer``: a :class:`tierflow.tracing.Tracer` (or a list) receiving the pattern's decision and
        its calls (docs/tracing.md)."""
        return await self._traced(as_messages(messages), self._client(client), tracer)

    async def execute(self, inputs: Mapping[str, Any], client: Any) -> dict[str, Any]:
        """Run as a graph node: read ``messages`` (or ``query``), return the node outputs."""
        messages = inputs.get("messages", inputs.get("query"))
        if messages is None:
            raise ValueError(f"pattern node {self.name!r} needs a 'messages' (or 'query') input")
        result = await self._traced(as_messages(messages), self._client(client), None)
        return result.outputs()

    async def _traced(self, messages: list[Message], client: Any, tracer: Any) -> PatternResult:
        """``_run`` inside a pattern span when a tracer is given or the caller is traced."""
        if tracer is None and _trace_frame.frame.get() is None:
            return await self._run(messages, client)
        return await _trace_frame.hooks().traced_pattern(self, tracer, messages, client)  # type: ignore[no-any-return]

    def _client(self, client: Any) -> Any:
        if client is not None:
            return client
        if self.client is not None:
            return self.client
        from tierflow.calls import default_client
        return default_client()

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        raise NotImplementedError

    def ir_config(self) -> dict[str, Any]:
        return {"pattern": self.pattern_name, **self.config(), **self.call_params}

    def config(self) -> dict[str, Any]:
        """The pattern's serialisable settings (callables are named, not serialised)."""
        return {}

    def role_refs(self) -> list[RoleRef]:
        """Every role the pattern may call, as ``(setting, role, kind)``; kind ``"routed"`` marks a
        name that must be a routed role. Build-time checks use it (README, Workflows)."""
        return []


def callable_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"


__all__ = ["PATTERN_OUTPUTS", "Pattern", "RoleRef", "PatternResult", "as_messages", "callable_name", "last_user_text"]
