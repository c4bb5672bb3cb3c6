"""The held-out split: a deterministic hash rule, so no list of ids has to be kept or copied.

A prompt is held out when ``sha256("tierflow-holdout-v1:" + key)`` falls in the first
``test_share`` of the hash space. The key is the prompt id (``by="prompt"``) or the task name
(``by="task"``: whole tasks are held out, to measure routing on topics never seen in training,
e.g. MMLU subjects). The rule was fixed before any router was evaluated and is never tuned.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np

from tierflow.routing.outcomes import OutcomeTable

SALT = "tierflow-holdout-v1:"
DEFAULT_TEST_SHARE = 0.3
SplitBy = Literal["prompt", "task"]


def is_held_out(key: str, test_share: float = DEFAULT_TEST_SHARE) -> bool:
    """Whether ``key`` belongs to the held-out part."""
    digest = hashlib.sha256((SALT + key).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_share


def split_mask(table: OutcomeTable, by: SplitBy = "prompt", test_share: float = DEFAULT_TEST_SHARE) -> np.ndarray:
    """Boolean mask of held-out rows."""
    keys = table.ids if by == "prompt" else table.tasks
    return np.array([is_held_out(k, test_share) for k in keys], dtype=bool)


def select(table: OutcomeTable, part: Literal["train", "test", "all"], by: SplitBy = "prompt",
           test_share: float = DEFAULT_TEST_SHARE) -> OutcomeTable:
    """The ``train`` or ``test`` part of ``table`` (or all of it)."""
    if part == "all":
        return table
    mask = split_mask(table, by, test_share)
    return table.subset(np.nonzero(mask if part == "test" else ~mask)[0])
