"""What every prompt of a task shares, learned at fit time and stripped before embedding.

Few-shot examples at the start ("Solved example ... Answer: A") and closing instructions at the
end ("Print only a single choice ... Answer:") are the same in every prompt of a task: they tell
a router nothing about one prompt, yet they dominate its embedding and cost tokens on every live
decision. A router stores the ones found in its training outcomes and strips them from each
prompt it embeds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def _task_groups(prompts: Sequence[str], tasks: Sequence[str], min_prompts: int) -> list[list[str]]:
    """The prompts of each task that has at least ``min_prompts`` of them."""
    by_task: dict[str, list[str]] = {}
    for p, t in zip(prompts, tasks):
        by_task.setdefault(t, []).append(p)
    return [group for group in by_task.values() if len(group) >= min_prompts]


def shared_prefixes(prompts: Sequence[str], tasks: Sequence[str], *, min_chars: int = 200,
                    min_prompts: int = 5) -> list[str]:
    """Per task, the boilerplate every prompt of it starts with (instructions, solved examples).

    Stripping it before embedding lets the question itself decide where a prompt lands.
    The prefix is cut back to a paragraph boundary so no question is clipped.
    """
    found: list[str] = []
    for group in _task_groups(prompts, tasks, min_prompts):
        prefix = os.path.commonprefix(group)
        cut = prefix.rfind("\n\n")
        prefix = prefix[:cut + 2] if cut >= 0 else ""
        if len(prefix) >= min_chars and prefix not in found:
            found.append(prefix)
    return found


def strip_prefixes(text: str, prefixes: Sequence[str]) -> str:
    """``text`` without the longest of ``prefixes`` it starts with."""
    best = max((p for p in prefixes if text.startswith(p)), key=len, default="")
    return text[len(best):] if best else text


def shared_suffixes(prompts: Sequence[str], tasks: Sequence[str], *, min_chars: int = 20,
                    min_prompts: int = 5) -> list[str]:
    """Per task, the instructions every prompt of it ends with ("Print only ... Answer:").

    The suffix starts at a line boundary so no question is clipped. Stripping it before
    embedding changes nothing a router can learn from (every prompt of the task has it) and
    saves its tokens from every live decision.
    """
    found: list[str] = []
    for group in _task_groups(prompts, tasks, min_prompts):
        suffix = os.path.commonprefix([p[::-1] for p in group])[::-1]
        start = suffix.find("\n")
        suffix = suffix[start:] if start >= 0 else ""
        if len(suffix) >= min_chars and suffix not in found and not any(p == suffix for p in group):
            found.append(suffix)
    return found


def template_labels(prompts: Sequence[str], *, min_prompts: int = 20, prefix_chars: int = 200,
                    suffix_chars: int = 40) -> list[str]:
    """A task-like label per prompt, for outcomes recorded without task labels.

    Prompts made from one template share its opening (solved examples, at least ``prefix_chars``
    up to a paragraph break) or its closing instructions (at least ``suffix_chars`` from a line
    start); each such group of at least ``min_prompts`` gets a label ``template-N``, the rest
    ``untemplated``. Routers then learn boilerplate and cascade groups as they would from task names.
    """
    labels = ["untemplated"] * len(prompts)
    found = 0
    for at_start, chars in ((True, prefix_chars), (False, suffix_chars)):
        for rows in _template_candidates(prompts, labels, at_start, chars):
            group = [prompts[i] for i in rows]
            find = shared_prefixes if at_start else shared_suffixes
            if len(rows) >= min_prompts and find(group, ["t"] * len(group), min_chars=chars, min_prompts=min_prompts):
                for i in rows:
                    labels[i] = f"template-{found}"
                found += 1
    return labels


def _template_candidates(prompts: Sequence[str], labels: list[str], at_start: bool, chars: int) -> list[list[int]]:
    """The still unlabelled prompts longer than ``chars``, grouped by their first (or last) ``chars`` characters."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        if labels[i] == "untemplated" and len(p) > chars:
            groups.setdefault(p[:chars] if at_start else p[-chars:], []).append(i)
    return list(groups.values())


def strip_boilerplate(text: str, prefixes: Sequence[str], suffixes: Sequence[str]) -> str:
    """``text`` without the longest of ``prefixes`` it starts with and of ``suffixes`` it ends with."""
    text = strip_prefixes(text, prefixes)
    best = max((s for s in suffixes if text.endswith(s) and len(s) < len(text)), key=len, default="")
    return text[:-len(best)] if best else text
