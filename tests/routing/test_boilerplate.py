"""Shared prefixes and closing instructions: learned per task, stripped before embedding."""

from __future__ import annotations

from tierflow.routing.boilerplate import (
    shared_prefixes,
    shared_suffixes,
    strip_boilerplate,
    strip_prefixes,
)


def test_shared_prefix_is_stripped_at_a_paragraph_boundary():
    shots = "Solved example one.\nAnswer: A\n\n" * 20
    prompts = [shots + f"Question {i}: which?" for i in range(6)]
    prefixes = shared_prefixes(prompts, ["t"] * 6)
    assert prefixes == [shots]
    assert strip_prefixes(prompts[3], prefixes) == "Question 3: which?"
    assert strip_prefixes("unrelated", prefixes) == "unrelated"


def test_shared_suffix_is_stripped_from_a_line_start_and_never_empties_a_prompt():
    tail = '\nPrint only a single choice from "A" or "B" without explanation. Answer:'
    prompts = [f"The cat sat on the _ number {i}.\nA) mat\nB) hat {i}{tail}" for i in range(6)]
    tasks = ["wino"] * 6
    suffixes = shared_suffixes(prompts, tasks)
    assert suffixes == [tail]
    assert strip_boilerplate(prompts[2], [], suffixes) == "The cat sat on the _ number 2.\nA) mat\nB) hat 2"
    assert strip_boilerplate(tail, [], suffixes) == tail  # a prompt that is only the suffix stays whole
    assert shared_suffixes(prompts[:4], tasks[:4]) == []  # too few prompts to call it boilerplate
    assert shared_suffixes([f"question {i}? Answer in one word." for i in range(6)], tasks) == []  # no line start
    shots = "Solved example.\nAnswer: A\n\n" * 20
    both = [shots + p for p in prompts]
    assert strip_boilerplate(both[0], shared_prefixes(both, tasks), shared_suffixes(both, tasks)) == \
        "The cat sat on the _ number 0.\nA) mat\nB) hat 0"
