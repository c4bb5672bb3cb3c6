"""Behavioural keys for code responses: equal behaviour, equal key; broken or absent code, None."""

from __future__ import annotations

from tierflow.routing.features.code_behaviour import behaviour_keys

PROMPT = "Write a function to replace characters in a string."
BUILTIN = "```python\ndef replace_chars(s, old, new):\n    return s.replace(old, new)\n```\n" \
          "Example:\n```python\nprint(replace_chars('hello', 'l', 'x'))\n```"
LOOPED = "Here:\n```python\ndef swap(text, a, b):\n    out = ''\n    for c in text:\n" \
         "        out += b if c == a else c\n    return out\n```\n>>> swap('banana', 'a', 'o')\n'bonono'"
WRONG = "```python\ndef replace_characters(string, old_char, new_char):\n    return string.replace(old_char, new_char, 1)\n```"


def test_equivalent_functions_share_a_key_and_a_wrong_one_differs(tmp_path):
    keys = behaviour_keys(PROMPT, [BUILTIN, LOOPED, WRONG], cache_dir=tmp_path)
    assert keys[0] is not None and keys[0] == keys[1]
    assert keys[2] is not None and keys[2] != keys[0]
    assert behaviour_keys(PROMPT, [BUILTIN, LOOPED, WRONG], cache_dir=tmp_path) == keys  # cached


def test_no_code_and_other_languages_get_none(tmp_path):
    js = "```javascript\nfunction swap(s, a, b) { return s.split(a).join(b); }\n```"
    keys = behaviour_keys(PROMPT, [BUILTIN, "I cannot help with that.", None, js], cache_dir=tmp_path)
    assert keys[0] is not None and keys[1:] == [None, None, None]


def test_hanging_code_returns_within_the_timeouts(tmp_path):
    spin = "```python\ndef replace_chars(s, a, b):\n    while True:\n        pass\n```"
    stubborn = "```python\ndef replace_chars(s, a, b):\n    while True:\n        try:\n            while True:\n" \
               "                pass\n        except BaseException:\n            pass\n```"  # swallows the alarm
    keys = behaviour_keys(PROMPT, [BUILTIN, spin], call_timeout_s=0.2, cache_dir=tmp_path)
    assert keys[0] is not None and keys[1] is None
    keys = behaviour_keys(PROMPT, [spin, stubborn, BUILTIN], call_timeout_s=0.2, timeout_s=2.0, cache_dir=tmp_path)
    assert keys[:2] == [None, None]  # the stubborn one was killed with its subprocess


def _partition(keys):
    return [None if k is None else keys.index(k) for k in keys]


def test_a_subsets_keys_use_only_its_own_inputs_from_one_run_of_all_responses(tmp_path):
    from tierflow.routing.features.code_behaviour import CodeRuns

    prompt = "Write a function that returns the absolute value of a number."
    good = "```python\ndef absolute(x):\n    return x if x >= 0 else -x\n```\nExample:\n>>> absolute(3)\n3"
    naive = "```python\ndef absolute(x):\n    return x\n```\n>>> absolute(5)\n5"
    probe = "```python\ndef absolute(x):\n    return abs(x)\n```\n```python\nprint(absolute(-2))\n```"
    runs = CodeRuns(prompt, [good, naive, probe], cache_dir=tmp_path)
    # on the first two responses' own inputs (3 and 5) the naive one behaves like the good one
    pair = runs.keys([0, 1])
    assert pair[0] is not None and pair[0] == pair[1]
    # the third response's -2 tells them apart
    trio = runs.keys([0, 1, 2])
    assert trio[0] == trio[2] != trio[1]
    for subset in ([0, 1], [0, 2], [1, 2], [0, 1, 2]):
        alone = behaviour_keys(prompt, [[good, naive, probe][i] for i in subset], cache_dir=tmp_path)
        assert _partition(runs.keys(subset)) == _partition(alone), subset


def test_a_timeout_on_an_input_the_subset_never_sees_does_not_cost_it_its_key(tmp_path):
    from tierflow.routing.features.code_behaviour import CodeRuns

    prompt = "Write a function triangle(n) returning 0 + 1 + ... + (n - 1)."
    big = "Try it on a large input:\n```python\nprint(triangle(50000000))\n```"
    fast = "```python\ndef triangle(n):\n    return n * (n - 1) // 2\n```\n>>> triangle(10)\n45"
    slow = "```python\ndef triangle(n):\n    t = 0\n    for i in range(n):\n        t += i\n    return t\n```\n" \
           ">>> triangle(10)\n45"
    runs = CodeRuns(prompt, [big, fast, slow], call_timeout_s=0.2, cache_dir=tmp_path)
    pair = runs.keys([1, 2])  # both only ever see triangle(10)
    assert pair[0] is not None and pair == [pair[0], pair[0]]
    assert _partition(pair) == _partition(behaviour_keys(prompt, [fast, slow], call_timeout_s=0.2, cache_dir=tmp_path))
    trio = runs.keys([0, 1, 2])  # with the large input, the loop times out and the two part
    assert trio[0] is None and trio[1] is not None and trio[1] != trio[2]
