"""The test server's embedding routes: OpenAI's ``POST /v1/embeddings`` (and Azure's deployment
route) and Gemini's ``models/{model}:batchEmbedContents``.

Each input gets a deterministic unit vector of :data:`DIM` numbers derived from its text (the same
text, the same vector, in every process), so tests can check order and identity. Scripted
behaviours apply as for chat: :class:`Status` answers that error, :class:`Hang` waits first; any
other behaviour answers normally. Usage counts whitespace words, as the chat routes do.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tierflow.testing.behaviours import Behaviour, Hang, Status
from tierflow.testing.protocols import GeminiWire, OpenAIWire
from tierflow.testing.wire import words

DIM = 8


def vector(text: str, dim: int = DIM) -> list[float]:
    """The test server's embedding of ``text``: a unit vector from its sha256."""
    raw = [b / 255.0 - 0.5 for b in hashlib.sha256(text.encode()).digest()[:dim]]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [round(x / norm, 6) for x in raw]


Record = Callable[[str, str, str, dict[str, Any]], Behaviour]
"""``(protocol, model, path, body) -> behaviour``: records the request and picks its behaviour."""


async def handle(request: web.Request, protocol: str, model: str | None, record: Record,
                 hang: Callable[[web.Request, float], Awaitable[bool]]) -> web.StreamResponse:
    wire = OpenAIWire() if protocol == "openai" else GeminiWire()
    try:
        body = json.loads(await request.read())
        texts = _texts(body, protocol)
        model = model or body.get("model")
        if not isinstance(model, str) or not model:
            raise ValueError("'model' is required")
    except (ValueError, TypeError) as exc:
        return web.json_response(wire.error(400, f"invalid request: {exc}"), status=400)
    behaviour = record(wire.name, model, request.path, body)
    if isinstance(behaviour, Status):
        headers = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
        return web.json_response(wire.error(behaviour.code, behaviour.message or f"scripted status {behaviour.code}"),
                                 status=behaviour.code, headers=headers)
    if isinstance(behaviour, Hang) and await hang(request, behaviour.seconds):
        raise ConnectionResetError("client went away while the server hung")
    vectors = [vector(t) for t in texts]
    if protocol == "gemini":
        return web.json_response({"embeddings": [{"values": v} for v in vectors]})
    tokens = words(*texts)
    return web.json_response({"object": "list", "model": model,
                              "data": [{"object": "embedding", "index": i, "embedding": v}
                                       for i, v in enumerate(vectors)],
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


def _texts(body: Any, protocol: str) -> list[str]:
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    if protocol == "gemini":
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise ValueError("requests is not specified")
        return [" ".join(p.get("text", "") for p in (r.get("content") or {}).get("parts") or [])
                for r in requests]
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("'input' must be a string or a non-empty array of strings")
    return texts


__all__ = ["DIM", "vector", "handle"]
