"""Embedding calls: ``await client.aembed("embed", ["a", "b"])`` for roles with the ``embedding``
modality (README, "Embeddings").

The role's chain is walked as for chat calls, with the same collaborators: each target's circuit
breaker (a cooling target is skipped), retries with backoff or ``Retry-After`` for retryable
errors, fallback to the next target for the errors that allow it, the call's deadline. Cost is the
input tokens at the target's input price. Routed roles and traffic splits do not embed: vectors of
different models do not share a space.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from tierflow.calls.retry import counts_as_failure, falls_back
from tierflow.errors import AllTargetsFailedError, DeadlineExceededError, EmbeddingRoleError, ProviderError
from tierflow.types import Attempt, EmbeddingResponse, EmbeddingResult

if TYPE_CHECKING:
    from tierflow.calls.client import Client
    from tierflow.calls.plan import Plan, PlannedTarget

_perf = time.perf_counter


def _checked_plan(client: Client, name: str) -> Plan:
    plan = client.planner.plan_any_modality(name)
    registry = client.config.registry
    roles = [e.role for e in registry if "embedding" in e.modalities]
    if plan.router is not None or plan.split is not None:
        kind = "is a routed role" if plan.router is not None else "is a traffic split"
        raise EmbeddingRoleError(name, kind, roles)
    if plan.modalities and "embedding" not in plan.modalities:
        raise EmbeddingRoleError(name, f"has modalities {list(plan.modalities)}", roles)
    return plan


def _inputs(inputs: list[str] | str) -> list[str]:
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("inputs must be a string or a non-empty list of strings")
    return texts


async def aembed(client: Client, name: str, inputs: list[str] | str, request_id: str,
                 deadline_s: float | None) -> EmbeddingResult:
    """The vectors of ``inputs`` from the first target of ``name``'s chain that answers."""
    started = _perf()
    texts = _inputs(inputs)
    plan = _checked_plan(client, name)
    d = client.default_deadline_s if deadline_s is None else deadline_s
    deadline = None if d is None else started + d
    attempts: list[Attempt] = []
    last: BaseException | None = None
    for target in plan.targets:
        retry = 0
        while True:
            ticket = client.breakers.allow(target.key)
            if ticket is None:
                attempts.append(Attempt(target.key, "skipped_cooldown"))
                break
            error = await _attempt(client, target, texts, ticket, attempts, deadline)
            if not isinstance(error, ProviderError):
                return _result(plan, target, error, attempts, started, request_id)
            last = error
            wait = client.retry.wait_before_retry(error, retry)
            if wait is None or (deadline is not None and _perf() + wait >= deadline):
                break
            await asyncio.sleep(wait)
            retry += 1
        if isinstance(last, ProviderError) and not falls_back(last):
            break
    raise AllTargetsFailedError(plan.name, attempts, last)


async def _attempt(client: Client, target: PlannedTarget, texts: list[str], ticket: int, attempts: list[Attempt],
                   deadline: float | None) -> EmbeddingResponse | ProviderError:
    """One request; the response, or the :class:`ProviderError` it ended with (recorded either way)."""
    t0 = _perf()
    try:
        async with asyncio.timeout(None if deadline is None else max(0.0, deadline - t0)):
            response = await client.provider(target.provider).embed(target.model, texts, timeouts=target.timeouts)
    except ProviderError as exc:
        (client.breakers.record_failure if counts_as_failure(exc) else client.breakers.release)(target.key, ticket)
        attempts.append(Attempt(target.key, "error", type(exc).__name__, exc.status_code, 0.0, _perf() - t0))
        return exc
    except TimeoutError:
        client.breakers.release(target.key, ticket)
        attempts.append(Attempt(target.key, "error", "DeadlineExceededError", None, 0.0, _perf() - t0))
        raise DeadlineExceededError(f"the deadline ran out while embedding with {target.key}",
                                    attempts=attempts) from None
    except BaseException:
        client.breakers.release(target.key, ticket)
        attempts.append(Attempt(target.key, "cancelled", None, None, 0.0, _perf() - t0))
        raise
    client.breakers.record_success(target.key, ticket)
    attempts.append(Attempt(target.key, "ok", None, None, 0.0, _perf() - t0))
    return response


def _result(plan: Plan, target: PlannedTarget, response: EmbeddingResponse, attempts: list[Attempt],
            started: float, request_id: str) -> EmbeddingResult:
    usage = response.usage
    cost = target.cost(usage) if target.cost is not None else None
    return EmbeddingResult(response.vectors, target.key, target.provider, plan.role, usage, cost,
                           _perf() - started, attempts, request_id)


__all__ = ["aembed"]
