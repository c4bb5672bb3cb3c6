"""Reading embedding answers: OpenAI's ``data[i].embedding`` and Gemini's ``embeddings[i].values``,
checked (one finite vector per input, all of one length), or a :class:`ResponseFormatError`."""

from __future__ import annotations

import math
from typing import Any

from tierflow.errors import ResponseFormatError


def _vector(value: Any, where: str, target: str) -> list[float]:
    if not isinstance(value, list) or not value or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise ResponseFormatError(f"{where} is not a list of finite numbers", target=target)
    return [float(x) for x in value]


def vectors(items: list[Any], count: int, target: str) -> list[list[float]]:
    """Checked vectors; ``items`` already ordered as the inputs."""
    if len(items) != count:
        raise ResponseFormatError(f"the answer has {len(items)} embeddings for {count} inputs", target=target)
    out = [_vector(v, f"embedding {i}", target) for i, v in enumerate(items)]
    if len({len(v) for v in out}) > 1:
        raise ResponseFormatError("the embeddings have different lengths", target=target)
    return out


def openai_vectors(data: dict[str, Any], count: int, target: str) -> list[list[float]]:
    items = data.get("data")
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise ResponseFormatError("response has no 'data' list", target=target)
    ordered = sorted(items, key=lambda d: d.get("index", 0) if isinstance(d.get("index"), int) else 0)
    return vectors([d.get("embedding") for d in ordered], count, target)


def gemini_vectors(data: dict[str, Any], count: int, target: str) -> list[list[float]]:
    items = data.get("embeddings")
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise ResponseFormatError("response has no 'embeddings' list", target=target)
    return vectors([d.get("values") for d in items], count, target)


__all__ = ["vectors", "openai_vectors", "gemini_vectors"]
