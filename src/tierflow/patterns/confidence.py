"""Confidence signals: how sure are we that a (cheap) model's answer is good?

Each signal scores one answer in ``[0, 1]`` or returns ``None`` when it cannot tell (e.g. the
provider returned no logprobs). The cascade escalates below its threshold and says which signal
decided. Signals:

- :class:`Logprobs`: ``exp(mean token logprob)`` of the answer (needs provider logprobs).
- :class:`SelfConsistency`: share of ``k`` samples that agree with the answer.
- :class:`VerifierScore`: a verifier role rates the answer (``1..scale``), scaled to ``[0, 1]``.
- :class:`SchemaValid`: 1.0 if the answer is valid JSON for a schema / model / check, else 0.0.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from tierflow.types import CallResult, Message


def normalize(text: str | None) -> str:
    """The comparison form of an answer: stripped, upper-cased, trailing punctuation removed."""
    return re.sub(r"[\s.!?]+$", "", (text or "").strip()).upper()


def logprob_confidence(result: CallResult) -> float | None:
    """``exp`` of the mean token logprob of the answer; None when the provider gave none."""
    if not result.logprobs:
        return None
    return math.exp(sum(t.logprob for t in result.logprobs) / len(result.logprobs))


def agreement(texts: Iterable[str | None], key: Callable[[str | None], str] = normalize
              ) -> tuple[str | None, float, dict[str, int]]:
    """Majority answer (original text), its share of the votes, and the vote counts."""
    texts = [t for t in texts if t is not None]
    if not texts:
        return None, 0.0, {}
    votes = Counter(key(t) for t in texts)
    winner_key, count = votes.most_common(1)[0]
    winner = next(t for t in texts if key(t) == winner_key)
    return winner, count / len(texts), dict(votes)


def parse_score(text: str | None, scale: float = 10.0) -> float | None:
    """The first number in ``text`` scaled to ``[0, 1]`` (``"8/10"`` -> 0.8); None if none."""
    match = re.search(r"-?\d+(?:\.\d+)?", text or "")
    if match is None:
        return None
    return max(0.0, min(1.0, float(match.group()) / scale))


def schema_check(schema: Any) -> Callable[[str], tuple[bool, str]]:
    """A check ``text -> (ok, why)`` from a JSON schema dict, a pydantic model or a predicate."""
    if isinstance(schema, dict):
        def check_schema(text: str) -> tuple[bool, str]:
            try:
                import jsonschema
            except ModuleNotFoundError as exc:  # pragma: no cover - jsonschema is a dev extra
                raise ModuleNotFoundError("JSON schema checks need `pip install jsonschema`") from exc
            try:
                jsonschema.validate(json.loads(text), schema)
            except json.JSONDecodeError as exc:
                return False, f"not JSON: {exc.msg}"
            except jsonschema.ValidationError as exc:
                return False, f"schema: {exc.message}"
            return True, "valid"
        return check_schema
    validate_json = getattr(schema, "model_validate_json", None)
    if validate_json is not None:
        def check_model(text: str) -> tuple[bool, str]:
            try:
                validate_json(text)
            except ValueError as exc:
                return False, str(exc).splitlines()[0]
            return True, "valid"
        return check_model
    if callable(schema):
        def check_fn(text: str) -> tuple[bool, str]:
            ok = schema(text)
            return (bool(ok[0]), str(ok[1])) if isinstance(ok, tuple) else (bool(ok), "check function")
        return check_fn
    raise TypeError("a schema is a JSON schema dict, a pydantic model or a function text -> bool")


class Signal:
    """Scores one answer of ``role`` to ``messages`` in [0, 1] (None: cannot tell)."""

    name = "signal"
    wants_logprobs = False

    async def score(self, client: Any, role: str, messages: list[Message], result: CallResult,
                    params: dict[str, Any]) -> tuple[float | None, list[CallResult]]:
        """(score, extra calls made to compute it)."""
        raise NotImplementedError


class Logprobs(Signal):
    name = "logprobs"
    wants_logprobs = True

    async def score(self, client: Any, role: str, messages: list[Message], result: CallResult,
                    params: dict[str, Any]) -> tuple[float | None, list[CallResult]]:
        return logprob_confidence(result), []


class SelfConsistency(Signal):
    """Sample ``k - 1`` more answers at ``temperature``; the score is the share agreeing."""

    name = "self_consistency"

    def __init__(self, k: int = 3, temperature: float = 0.8,
                 key: Callable[[str | None], str] = normalize) -> None:
        if k < 2:
            raise ValueError("self-consistency needs k >= 2 samples")
        self.k, self.temperature, self.key = k, temperature, key

    async def score(self, client: Any, role: str, messages: list[Message], result: CallResult,
                    params: dict[str, Any]) -> tuple[float | None, list[CallResult]]:
        extra = {**params, "temperature": self.temperature}
        samples = await asyncio.gather(*(client.acall(role, messages, **extra) for _ in range(self.k - 1)))
        first = self.key(result.text)
        agreeing = 1 + sum(self.key(s.text) == first for s in samples)
        return agreeing / self.k, list(samples)


class VerifierScore(Signal):
    """A verifier role rates the answer from 1 to ``scale``."""

    name = "verifier"
    PROMPT = ("Rate the answer to the question from 1 to {scale} for correctness and completeness. "
              "Reply with only the number.")

    def __init__(self, role: str = "primary", scale: float = 10.0, max_tokens: int = 8) -> None:
        self.role, self.scale, self.max_tokens = role, scale, max_tokens

    async def score(self, client: Any, role: str, messages: list[Message], result: CallResult,
                    params: dict[str, Any]) -> tuple[float | None, list[CallResult]]:
        from tierflow.patterns.base import last_user_text

        ask = [{"role": "system", "content": self.PROMPT.format(scale=int(self.scale))},
               {"role": "user", "content": f"Question: {last_user_text(messages)}\n\n"
                                           f"Answer: {result.text}"}]
        verdict = await client.acall(self.role, ask, max_tokens=self.max_tokens, temperature=0.0)
        return parse_score(verdict.text, self.scale), [verdict]


class SchemaValid(Signal):
    """1.0 when the answer passes the schema / model / predicate, else 0.0."""

    name = "schema"

    def __init__(self, schema: Any) -> None:
        self.check = schema_check(schema)

    async def score(self, client: Any, role: str, messages: list[Message], result: CallResult,
                    params: dict[str, Any]) -> tuple[float | None, list[CallResult]]:
        ok, _why = self.check(result.text)
        return (1.0 if ok else 0.0), []


def signal_from(spec: Any) -> Signal:
    """A Signal from an instance or a name: logprobs, self_consistency, verifier."""
    if isinstance(spec, Signal):
        return spec
    table: dict[str, Callable[[], Signal]] = {"logprobs": Logprobs, "self_consistency": SelfConsistency,
                                              "verifier": VerifierScore}
    if spec in table:
        return table[spec]()
    raise ValueError(f"unknown confidence signal {spec!r}; expected one of {sorted(table)} or a "
                     "Signal (e.g. SchemaValid(schema))")


__all__ = [
    "Logprobs",
    "SchemaValid",
    "SelfConsistency",
    "Signal",
    "VerifierScore",
    "agreement",
    "logprob_confidence",
    "normalize",
    "parse_score",
    "schema_check",
    "signal_from",
]
