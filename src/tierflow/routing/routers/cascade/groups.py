"""The prompt groups a cascade router fits one chain each for: tasks, pooled small tasks, the rest."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.features.boilerplate import template_labels


def pooled_tasks(table: OutcomeTable, min_group: int) -> np.ndarray:
    """Each row's task, except that rows of tasks too small for a chain of their own (under
    ``min_group`` rows) that share a prompt template with enough other such rows are pooled under
    the template's label (e.g. many small subjects asked with one set of solved examples)."""
    tasks = np.array(table.tasks, dtype=object)
    counts = Counter(table.tasks)
    small = np.nonzero([counts[t] < min_group for t in table.tasks])[0]
    if len(small) >= min_group:
        labels = template_labels([table.prompts[i] for i in small])
        pooled = Counter(labels)
        for row, label in zip(small, labels):
            if label != "untemplated" and pooled[label] >= min_group:
                tasks[row] = f"pooled-{label}"
    return tasks


def nearest_group(emb: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the group whose (unit) centroid is most similar to each embedding."""
    return np.asarray(np.argmax(emb @ centroids.T, axis=1))


def task_groups(table: OutcomeTable, emb: np.ndarray, min_group: int
                ) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Group names, each group's training rows, and the centroids live prompts are grouped by.

    A group is a task (or a pool of small tasks sharing a template, see :func:`pooled_tasks`)
    with at least ``min_group`` rows; rows of other tasks join the group with the nearest
    centroid. With fewer than two such groups every row is in one group, ``all``.
    """
    tasks = pooled_tasks(table, min_group)
    names = sorted(t for t in set(tasks) if (tasks == t).sum() >= min_group)
    if len(names) < 2:
        return ["all"], [np.arange(table.n)], emb.mean(0, keepdims=True)
    groups = [np.nonzero(tasks == t)[0] for t in names]
    cent = np.stack([emb[g].mean(0) for g in groups])
    centroids = cent / np.linalg.norm(cent, axis=1, keepdims=True)
    covered = np.zeros(table.n, bool)
    for g in groups:
        covered[g] = True
    nearest = nearest_group(emb, centroids)
    groups = [np.union1d(g, np.nonzero(~covered & (nearest == i))[0]) for i, g in enumerate(groups)]
    return names, groups, centroids
