"""Verifier / quality gate: generate, check, retry or escalate, within bounded attempts and cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tierflow.patterns.base import Pattern, PatternResult, callable_name, last_user_text
from tierflow.patterns.confidence import VerifierScore, schema_check
from tierflow.types import CallResult, Message


class Verifier(Pattern):
    """Answer with ``generate``; check the answer; on failure retry (``retries`` per role) and
    then escalate along ``escalate``; stop at ``max_attempts`` answers or once ``max_cost_usd``
    is spent. ``check`` is a verifier role (scores ``1..10``, passes at ``min_score``), a JSON
    schema dict / pydantic model, or a function ``text -> bool | (bool, why)``.

    When nothing passes: ``on_fail="best"`` returns the best-scored answer (``details["passed"]``
    is False, the reason says so); ``on_fail="raise"`` raises ``ValueError``.
    """

    pattern_name = "verifier"

    def __init__(self, name: str | None = None, *, generate: str = "fast",
                 escalate: Sequence[str] = ("primary",), check: Any = "primary", min_score: float = 7,
                 retries: int = 0, max_attempts: int = 3, max_cost_usd: float | None = None,
                 feedback: bool = True, on_fail: str = "best", **kwargs: Any) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if on_fail not in ("best", "raise"):
            raise ValueError("on_fail is 'best' or 'raise'")
        self.ladder = [generate, *escalate]
        self.check_spec = check
        self.min_score = min_score
        self.retries, self.max_attempts, self.max_cost_usd = retries, max_attempts, max_cost_usd
        self.feedback, self.on_fail = feedback, on_fail
        self._role_check = VerifierScore(check) if isinstance(check, str) else None
        self._fn_check = None if isinstance(check, str) else schema_check(check)
        super().__init__(name, **kwargs)

    def _schedule(self) -> list[str]:
        roles = [r for r in self.ladder for _ in range(1 + self.retries)]
        return roles[: self.max_attempts]

    async def _check(self, client: Any, messages: list[Message], result: CallResult
                     ) -> tuple[bool, float | None, str, list[CallResult]]:
        if self._fn_check is not None:
            ok, why = self._fn_check(result.text)
            return ok, 1.0 if ok else 0.0, why, []
        assert self._role_check is not None
        score, extra = await self._role_check.score(client, "", messages, result, {})
        raw = extra[0].text if extra else ""
        if score is None:
            return False, None, f"verifier {self.check_spec!r} gave no score ({raw.strip()[:30]!r})", extra
        points = score * self._role_check.scale
        ok = points >= self.min_score
        return ok, score, f"verifier {self.check_spec!r} scored {points:g}/10 (pass >= {self.min_score:g})", extra

    async def _run(self, messages: list[Message], client: Any) -> PatternResult:
        calls: list[CallResult] = []
        tries: list[dict[str, Any]] = []
        best: tuple[float, CallResult, str, str] | None = None
        prompt = messages
        stop = ""
        for attempt, role in enumerate(self._schedule(), start=1):
            spent = sum(c.cost_usd or 0.0 for c in calls)
            if self.max_cost_usd is not None and calls and spent >= self.max_cost_usd:
                stop = f"cost limit ${self.max_cost_usd:g} reached (${spent:.6f} spent)"
                break
            result = await client.acall(role, prompt, **self.call_params)
            calls.append(result)
            ok, score, why, extra = await self._check(client, messages, result)
            calls += extra
            tries.append({"attempt": attempt, "role": role, "model": result.model_used, "passed": ok,
                          "score": score, "why": why})
            if best is None or (score or 0.0) > best[0]:
                best = (score or 0.0, result, role, why)
            if ok:
                reason = f"attempt {attempt} by {role!r} passed: {why}"
                return PatternResult(content=result.text, model_used=result.model_used, role=role,
                                     reason=reason, confidence=score, escalated=role != self.ladder[0],
                                     calls=calls, details={"passed": True, "attempts": tries})
            if self.feedback:
                prompt = [*messages, {"role": "assistant", "content": result.text},
                          {"role": "user", "content": f"That answer did not pass a check ({why}). "
                                                      f"Answer again, better: {last_user_text(messages)}"}]
        stop = stop or f"{len(tries)} attempt(s) used (max {self.max_attempts})"
        if self.on_fail == "raise" or best is None:
            raise ValueError(f"verifier {self.name!r}: no answer passed the check; {stop}")
        score, result, role, why = best
        return PatternResult(content=result.text, model_used=result.model_used, role=role,
                             reason=f"no answer passed ({stop}); returning the best: {why}",
                             confidence=score, escalated=role != self.ladder[0], calls=calls,
                             details={"passed": False, "attempts": tries})

    def role_refs(self) -> list[tuple[str, str, str]]:
        refs = [("generate" if i == 0 else f"escalate[{i - 1}]", r, "chat") for i, r in enumerate(self.ladder)]
        if isinstance(self.check_spec, str):
            refs.append(("check", self.check_spec, "chat"))
        return refs

    def config(self) -> dict[str, Any]:
        check = self.check_spec if isinstance(self.check_spec, (str, dict)) else callable_name(self.check_spec)
        return {"ladder": self.ladder, "check": check, "min_score": self.min_score, "retries": self.retries,
                "max_attempts": self.max_attempts, "max_cost_usd": self.max_cost_usd}


__all__ = ["Verifier"]
