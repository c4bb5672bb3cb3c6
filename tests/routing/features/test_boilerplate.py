"""Shared prefixes and closing instructions: learned per task, stripped before embedding."""

from __future__ import annotations

from tierflow.routing.features.boilerplate import (
    shared_prefixes,
    shared_suffixes,
    strip_boilerplate,
    strip_prefixes,
    template_labels,
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


def test_templates_are_inferred_for_outcomes_without_task_labels():
    import numpy as np

    from tierflow.routing.data.outcomes import OutcomeTable
    from tierflow.routing.fit.train import fit_router

    shots = "Solved example.\nAnswer: A\n\n" * 20
    tail = '\nPrint only a single choice from "A" or "B" or "C" or "D" without explanation. Answer:'
    few_shot = [shots + f"Question {i}: which planet is number {i}?" for i in range(30)]
    closing = [f"Pick the word that fits sentence {i}.\nA) mat\nB) hat {i}{tail}" for i in range(30)]
    free = [f"write a function number {i} that adds two lists of different lengths" for i in range(30)]
    labels = template_labels(few_shot + closing + free)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:60])) == 1 and labels[0] != labels[30]
    assert set(labels[60:]) == {"untemplated"}
    assert template_labels(few_shot[:10] + free) == ["untemplated"] * 40  # too few to call it a template
    prompts = few_shot + closing + free
    scores = np.tile([[0.0, 1.0]], (90, 1))
    table = OutcomeTable([f"p{i}" for i in range(90)], prompts, ["default"] * 90, ["cheap", "strong"], scores,
                         np.tile([1e-4, 1e-3], (90, 1)))
    router = fit_router(table, "knn", embedder="hashing")
    assert router.prefixes == [shots] and router.suffixes == [tail]
    assert any("template(s) inferred" in n for n in table.notes)
