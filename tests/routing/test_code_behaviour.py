"""Behavioural keys for code responses: equal behaviour, equal key; broken or absent code, None."""

from __future__ import annotations

from tierflow.routing._code_behaviour import behaviour_keys

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
