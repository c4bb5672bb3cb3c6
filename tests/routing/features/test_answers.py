"""Answer extraction and verifiers used as cascade confidence signals."""

from __future__ import annotations

import pytest

from tierflow.routing.features.answers import CodeVerifier, arithmetic_errors, extract_answer, response_features


@pytest.mark.parametrize("text, answer", [
    ("B", "B"), ("(c)\n", "C"), ("A) Ian", "A"), (" 42 ", "42"),
    ("She sells 9 eggs for 9 * $2 = $18.\n#### 18", "18"),
    ("First 3 + 4 = 7. Then 16 - 7 = 9, and 9 * 2 = 18 dollars in total each day at the market.", "18"),
    ("Working it out step by step.\nThe answer is (D).", "D"),
    ("Here is the code:\n```python\ndef f():\n    return 1\n```", None),
    ("", None),
    # short answers in the phrasings models use agree with the bare letter or number
    ("The answer is C.", "C"), ("Answer: B", "B"), ("The correct answer is B. 4", "B"),
    ("The best completion is D: she walks away.", "D"), ("Correct answer: (A) 0", "A"),
    ("B\n\nExplanation: 4 is the only even option of the 3.", "B"), ("**B**", "B"),
    ("18 dollars", "18"), ("Option 2", "2"), ("option2", "2"), ("The answer is 18.", "18"),
    ("Paris", "paris"), ("$18.", "18"), ("x = 5", "5"), ("1,234", "1234"), ("-3 degrees", "-3"),
    # a name that carries a number is not that number: two such names must not agree
    ("Apollo 11", "apollo 11"), ("Chapter 11", "chapter 11"), ("COVID-19", "covid 19"),
])
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_arithmetic_errors_are_found():
    assert arithmetic_errors("3 + 4 = 7 and 9 * 2 = 18") == (2, 0)
    assert arithmetic_errors("16 - 7 = 8, 1,000 / 4 = 250") == (2, 1)


def test_code_verifier_runs_asserts_in_a_limited_subprocess(tmp_path):
    v = CodeVerifier(timeout_s=2, memory_mb=256, cache_dir=tmp_path)
    prompt = "Write add.\nassert add(2, 3) == 5"
    assert v.verify(prompt, "```python\ndef add(a, b):\n    return a + b\n```") == 1
    assert v.verify(prompt, "```python\ndef add(a, b):\n    return a - b\n```") == 0
    assert v.verify(prompt, "```python\nwhile True:\n    pass\n```") == 0  # killed by the time limit
    assert v.verify(prompt, "```python\nx = bytearray(2**31)\n```") == 0  # killed by the memory limit
    assert v.verify(prompt, "no code here") is None
    assert v.run("import os\nassert not os.listdir('.') or True") == 1


def test_response_features_flag_wrong_arithmetic():
    good = response_features("q", "3 + 4 = 7\n#### 7")
    bad = response_features("q", "3 + 4 = 8\n#### 8")
    assert good[4] == 0 and bad[4] == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("(12 / 20) x 100 = 55% of the class", (1, 1)),  # a multi-step product, written wrong
    ("Aaron has 40 / 2 + 5 = 20 + 5 = 25 jewels.", (2, 0)),  # a chain: every step checked
    ("so 20 + 15 = <<20+15=35>>35 miles", (1, 0)),  # the calculator annotation
    ("16 students are left (20 - 4 = 16).", (1, 0)),  # inside an aside
    ("It costs $5 + $3 = $9 in total.", (1, 1)),
    ("He sold 1,200 * 3 = 3,600 units, 7 = 7, and 10 = 12 is no computation", (1, 0)),
    ("no equations here, 3 apples", (0, 0)),
])
def test_arithmetic_errors_follow_written_equations(text, expected):
    assert arithmetic_errors(text) == expected
