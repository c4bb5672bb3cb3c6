"""The held-out split: a deterministic hash rule, so no list of ids has to be kept or copied.

A prompt is held out when ``sha256("tierflow-holdout-v1:" + key)`` falls in the first
``test_share`` of the hash space. The key is the prompt id (``by="prompt"``) or the task name
(``by="task"``: whole tasks are held out, to measure routing on topics never seen in training,
e.g. MMLU subjects). The rule was fixed before any router was evaluated and is never tuned.

A router also keeps the :func:`fingerprints` of the prompts it was fitted on, so that
``route eval`` scores it only on prompts it has not seen (:func:`seen_mask`): the held-out part of
its own outcome files, or every prompt of a file it was not fitted on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

import numpy as np

from tierflow.routing.data.outcomes import OutcomeTable

SALT = "tierflow-holdout-v1:"
DEFAULT_TEST_SHARE = 0.3
SplitBy = Literal["prompt", "task"]


def hash64(text: str) -> int:
    """The first 8 bytes of ``sha256(text)`` as an unsigned integer: behind the split, the prompt
    fingerprints and a calibrated mix's fixed draw per prompt."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def is_held_out(key: str, test_share: float = DEFAULT_TEST_SHARE) -> bool:
    """Whether ``key`` belongs to the held-out part."""
    return hash64(SALT + key) / 2**64 < test_share


def _fingerprint_each(prompts: Sequence[str]) -> np.ndarray:
    return np.array([hash64(p) for p in prompts], dtype=np.uint64)


def fingerprints(prompts: Sequence[str]) -> np.ndarray:
    """Sorted unique 64-bit fingerprints (the first 8 bytes of the sha256) of the prompts' texts."""
    return np.unique(_fingerprint_each(prompts))


def seen_mask(table: OutcomeTable, fitted_on: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows whose prompt text is among ``fitted_on`` (see :func:`fingerprints`)."""
    return np.isin(_fingerprint_each(table.prompts), fitted_on)


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
