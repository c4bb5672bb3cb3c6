"""What a router reads from a prompt: the text it embeds, its embedding, its surface features.

A router strips the boilerplate every prompt of a task shares (solved examples, closing
instructions: :mod:`tierflow.routing.features.boilerplate`) before embedding, so that what tells
prompts apart is what is embedded. Fitting, evaluation and live routing all embed through
:func:`embed_prompts`, so a prompt gets the same vector in each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tierflow.routing.features.boilerplate import strip_boilerplate
from tierflow.routing.features.embed import Embedder, get_embedder

if TYPE_CHECKING:
    from tierflow.routing.routers.base import LearnedRouter

_MATH = re.compile(r"[=+*/^<>]")
_NEGATION = re.compile(r"\b(NOT|EXCEPT|LEAST|FALSE|INCORRECT)\b")


def routing_texts(router: LearnedRouter, prompts: Sequence[str]) -> list[str]:
    """The texts the router embeds: prompts without their task's shared boilerplate."""
    return [strip_boilerplate(p, router.prefixes, router.suffixes) for p in prompts]


def embed_prompts(router: LearnedRouter, prompts: Sequence[str], embedder: Embedder | None = None) -> np.ndarray:
    """The router's embeddings of ``prompts`` (its own embedder unless one is given)."""
    return (embedder or get_embedder(router.embedder)).embed(routing_texts(router, prompts))


def prompt_features(text: str) -> list[float]:
    """Surface features of a prompt that carry across topics: size, numbers, maths, negation, lines."""
    n = max(1, len(text))
    return [math.log1p(len(text)), 10 * sum(ch.isdigit() for ch in text) / n, len(_MATH.findall(text)) / 10,
            float(bool(_NEGATION.search(text))), text.count("\n") / 10, float("```" in text or "def " in text)]


__all__ = ["embed_prompts", "prompt_features", "routing_texts"]
