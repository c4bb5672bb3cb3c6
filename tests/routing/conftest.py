"""Synthetic outcome tables whose oracle and best router are known exactly."""

from __future__ import annotations

import numpy as np

from tierflow.routing.data.outcomes import OutcomeTable

MATH = "compute the sum of integers arithmetic number add plus total"
POEM = "write a sonnet about autumn leaves rhyme verse lyrical imagery"


def two_topic_table(n: int = 120, seed: int = 0) -> OutcomeTable:
    """Half 'math' prompts that the cheap model solves, half 'poem' prompts only the strong one does.

    cheap costs 1e-4 and strong 1e-3 per prompt, so the oracle and the right router send math to
    cheap and poems to strong: quality 1.0 at mean cost 5.5e-4.
    """
    rng = np.random.default_rng(seed)
    prompts, tasks = [], []
    for i in range(n):
        topic = MATH if i % 2 == 0 else POEM
        words = topic.split()
        rng.shuffle(words)
        prompts.append(" ".join(words) + f" item {i}")
        tasks.append("math" if i % 2 == 0 else "poem")
    is_math = np.array([t == "math" for t in tasks])
    scores = np.stack([is_math.astype(float), np.ones(n)], axis=1)
    costs = np.tile([1e-4, 1e-3], (n, 1))
    return OutcomeTable([f"p{i}" for i in range(n)], prompts, tasks, ["cheap", "strong"], scores, costs)


def agreement_table(n: int = 300, seed: int = 1) -> OutcomeTable:
    """Three models with recorded answers: when the two cheap ones agree they are right; when they
    disagree both are wrong and only the strong (expensive) model is right.
    """
    rng = np.random.default_rng(seed)
    prompts, responses, scores = [], [], []
    for i in range(n):
        truth = "ABCD"[rng.integers(4)]
        hard = rng.random() < 0.4
        wrong = [c for c in "ABCD" if c != truth]
        a, b = (wrong[0], wrong[1]) if hard else (truth, truth)
        prompts.append(f"question {i} about topic {rng.integers(50)}? Options A B C D")
        responses.append([a, b, truth])
        scores.append([float(a == truth), float(b == truth), 1.0])
    costs = np.tile([1e-4, 2e-4, 5e-3], (n, 1))
    return OutcomeTable([f"q{i}" for i in range(n)], prompts, ["mcq"] * n, ["cheap1", "cheap2", "strong"],
                        np.array(scores), costs, responses)


import pytest  # noqa: E402


@pytest.fixture
def two_topic() -> OutcomeTable:
    return two_topic_table()


@pytest.fixture
def agreement() -> OutcomeTable:
    return agreement_table()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Embedding and verifier caches go to a temporary TIERFLOW_HOME."""
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
