"""The call layer: call a role (or ``provider/model``) and get an answer, whatever fails on the way.

``await client.acall("fast", "Hello")`` walks the role's chain (its target, its ``fallback``
list, then the call's own ``fallback=``), and for each target:

- skips it at once if its circuit breaker is open (:mod:`tierflow.calls.cooldown`);
- makes an attempt through the provider adapter, bounded by the provider's timeouts (connect,
  total, stream idle; defaults 5 s / 600 s / 60 s) and by the call's deadline (``deadline_s``,
  default none), which raises :class:`~tierflow.errors.DeadlineExceededError` when it runs out;
- retries or falls back as :mod:`tierflow.calls.retry` decides (defaults: 2 retries, backoff
  0.5 s doubling to 8 s, jitter 25 %, ``Retry-After`` honoured up to 60 s).

When every target failed or was cooling down it raises
:class:`~tierflow.errors.AllTargetsFailedError` carrying every :class:`~tierflow.types.Attempt`.
The role's ``temperature`` and ``system_context`` apply unless the call sets its own (a call's
own system message wins over ``system_context``). Cancelling the awaiting task cancels the
upstream request. The sync twin :meth:`Client.call` runs on a private event-loop thread.

The hot path does no pydantic validation, no registry or price look-ups (plans are cached) and
no log formatting unless a failure is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from tierflow.calls._attempts import Tries
from tierflow.calls._portal import Portal
from tierflow.calls.cooldown import CircuitBreakers
from tierflow.calls.plan import Plan, PlannedTarget, Planner
from tierflow.calls.retry import RetryPolicy, counts_as_failure
from tierflow.calls.streaming import CallStream
from tierflow.config import ProjectConfig, load_config
from tierflow.errors import APITimeoutError, DeadlineExceededError, ProviderError
from tierflow.pricing import PriceTable
from tierflow.providers.base import Provider, Timeouts, create_provider
from tierflow.registry import Registry
from tierflow.types import Attempt, CallResult, ChatRequest, Message

_log = logging.getLogger("tierflow.calls")
_T = TypeVar("_T")
_perf = time.perf_counter


def _load_router_factory(config: ProjectConfig) -> Any:
    """``tierflow.routing.live.load_routed_role`` bound to the registry, if that module exists."""
    if not config.routed_roles:
        return None
    try:
        from tierflow.routing.live import load_routed_role  # type: ignore[import-not-found]
    except ModuleNotFoundError as exc:
        if exc.name not in ("tierflow.routing.live", "tierflow.routing"):
            raise
        return None
    source = Path(config.source)
    base_dir = source.parent if source.is_file() else None  # router paths are relative to the config
    return lambda entry: load_routed_role(entry, config.registry, base_dir=base_dir)


class Client:
    """Calls roles of one project config. Share one client: its breakers and connections are."""

    def __init__(self, config: ProjectConfig | None = None, *,
                 providers: dict[str, Provider] | None = None) -> None:
        self.config = config if config is not None else load_config(None)
        rel = self.config.reliability
        self.retry = RetryPolicy(rel.max_retries, rel.backoff_initial_s, rel.backoff_max_s, rel.jitter,
                                 rel.retry_after_max_s)
        self.breakers = CircuitBreakers(rel.cooldown.failures, rel.cooldown.seconds)
        self.prices = PriceTable(self.config.prices)
        self.default_deadline_s = rel.deadline_s
        self.planner = Planner(self.config, self.prices, _load_router_factory(self.config))
        self._given = dict(providers or {})
        self._by_loop: dict[asyncio.AbstractEventLoop, dict[str, Provider]] = {}
        self._portal: Portal | None = None

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> Client:
        return cls(load_config(path))

    @property
    def registry(self) -> Registry:
        return self.config.registry

    # --- async API ------------------------------------------------------------------------------

    async def acall(self, target: str, messages: list[Message] | str, *, temperature: float | None = None,
                    max_tokens: int | None = None, stop: str | list[str] | None = None,
                    response_format: dict[str, Any] | None = None, logprobs: bool = False,
                    top_logprobs: int | None = None, seed: int | None = None,
                    fallback: Sequence[str] | None = None, deadline_s: float | None = None,
                    **extra: Any) -> CallResult:
        """Call ``target`` (a role or ``"provider/model"``) and return the answer with its record."""
        started = _perf()
        plan = self.planner.plan(target)
        decision: dict[str, Any] | None = None
        if plan.router is not None or fallback:
            plan, decision = await self._resolve(target, messages, fallback)
        request = self._request(plan, messages, temperature, max_tokens, stop, response_format,
                                logprobs, top_logprobs, seed, extra)
        deadline = self._deadline(deadline_s, started)
        return await self._complete(plan, request, started, deadline, decision)

    def astream(self, target: str, messages: list[Message] | str, *, temperature: float | None = None,
                max_tokens: int | None = None, stop: str | list[str] | None = None,
                response_format: dict[str, Any] | None = None, logprobs: bool = False,
                top_logprobs: int | None = None, seed: int | None = None,
                fallback: Sequence[str] | None = None, deadline_s: float | None = None,
                **extra: Any) -> CallStream:
        """Stream ``target``'s answer: ``async for chunk in client.astream(...)``; then ``.result``.

        Falls back only before the first chunk; a failure after it raises
        :class:`~tierflow.errors.StreamInterruptedError` (chunks are never replayed).
        """
        started = _perf()

        async def prepare() -> tuple[Plan, ChatRequest, float | None, dict[str, Any] | None]:
            plan, decision = await self._resolve(target, messages, fallback)
            request = self._request(plan, messages, temperature, max_tokens, stop, response_format,
                                    logprobs, top_logprobs, seed, extra)
            return plan, request, self._deadline(deadline_s, started), decision

        return CallStream(self, prepare, started)

    async def aclose(self) -> None:
        """Close the providers this client opened on the running loop (and its sync loop)."""
        await self._close_loop(asyncio.get_running_loop())
        for given in self._given.values():
            await given.aclose()
        self._given.clear()
        if self._portal is not None:
            self._portal.stop(self._close_loop)
            self._portal = None

    async def _close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        for provider in self._by_loop.pop(loop, {}).values():
            await provider.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- sync API -------------------------------------------------------------------------------

    def call(self, target: str, messages: list[Message] | str, **kwargs: Any) -> CallResult:
        """The sync twin of :meth:`acall` (runs on this client's private event-loop thread)."""
        return self._run_sync(self.acall(target, messages, **kwargs))

    def close(self) -> None:
        """Sync twin of :meth:`aclose` for clients used through :meth:`call`."""
        if self._portal is not None:
            self._portal.stop(self._close_loop)
            self._portal = None

    def _run_sync(self, coro: Awaitable[_T]) -> _T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()  # type: ignore[attr-defined]
            raise RuntimeError("Client.call() was used inside a running event loop; use "
                               "`await client.acall(...)` there")
        if self._portal is None:
            self._portal = Portal()
        return self._portal.run(coro)

    async def adecide(self, target: str, messages: list[Message] | str) -> dict[str, Any] | None:
        """What a routed role would choose for ``messages`` (None for a plain role); no model is called."""
        plan = self.planner.plan(target)
        if plan.router is None:
            return None
        chosen = plan.router.choose(messages)
        if asyncio.iscoroutine(chosen):
            chosen = await chosen
        return _as_dict(chosen)

    async def anext_step(self, target: str, messages: list[Message] | str, answers: Mapping[str, str | None]
                         ) -> dict[str, Any] | None:
        """A routed role's next step for ``messages`` given the ``answers`` of the roles consulted so
        far (None for a plain role); no model is called (see ``RoutedCascade``)."""
        plan = self.planner.plan(target)
        if plan.router is None or not hasattr(plan.router, "next_step"):
            return None
        return plan.router.next_step(messages, answers)

    # --- internals ------------------------------------------------------------------------------

    async def _resolve(self, target: str, messages: Any, fallback: Sequence[str] | None
                       ) -> tuple[Plan, dict[str, Any] | None]:
        plan = self.planner.plan(target)
        decision: dict[str, Any] | None = None
        if plan.router is not None:
            chosen = plan.router.choose(messages)
            if asyncio.iscoroutine(chosen):
                chosen = await chosen
            decision = _as_dict(chosen)
            inner = self.planner.plan(decision["chosen_role"])
            plan = Plan(name=plan.name, role=plan.role, targets=inner.targets,
                        temperature=inner.temperature, system_context=inner.system_context)
        if fallback:
            plan = plan.extended(self.planner.targets_for(fallback))
        return plan, decision

    @staticmethod
    def _request(plan: Plan, messages: list[Message] | str, temperature: float | None,
                 max_tokens: int | None, stop: str | list[str] | None,
                 response_format: dict[str, Any] | None, logprobs: bool, top_logprobs: int | None,
                 seed: int | None, extra: dict[str, Any]) -> ChatRequest:
        if isinstance(messages, str):
            msgs: list[Message] = [{"role": "user", "content": messages}]
        elif isinstance(messages, list):
            msgs = messages
        else:
            raise TypeError(f"messages must be a str or a list of {{'role', 'content'}} dicts, "
                            f"got {type(messages).__name__}")
        if plan.system_context and not (msgs and msgs[0].get("role") == "system"):
            msgs = [{"role": "system", "content": plan.system_context}, *msgs]
        return ChatRequest(model="", messages=msgs,
                           temperature=plan.temperature if temperature is None else temperature,
                           max_tokens=max_tokens, stop=[stop] if isinstance(stop, str) else stop,
                           response_format=response_format, logprobs=logprobs,
                           top_logprobs=top_logprobs, seed=seed, extra=extra)

    def _deadline(self, deadline_s: float | None, started: float) -> float | None:
        d = self.default_deadline_s if deadline_s is None else deadline_s
        return None if d is None else started + d

    def provider(self, name: str) -> Provider:
        """The provider ``name`` for the running event loop (created on first use)."""
        given = self._given.get(name)
        if given is not None:
            return given
        loop = asyncio.get_running_loop()
        providers = self._by_loop.get(loop)
        if providers is None:
            for old in [lp for lp in self._by_loop if lp.is_closed()]:
                del self._by_loop[old]
            providers = self._by_loop[loop] = {}
        p = providers.get(name)
        if p is None:
            p = providers[name] = create_provider(name, self.config.provider_settings(name))
        return p

    def attempt_timeouts(self, target: PlannedTarget, deadline: float | None) -> tuple[Timeouts, float]:
        """The attempt's timeouts, shrunk to the deadline, and its absolute end (perf clock)."""
        t = target.timeouts
        now = _perf()
        if deadline is None:
            return t, now + t.total
        left = deadline - now
        if left <= 0:
            raise DeadlineExceededError("deadline exceeded")
        if left >= t.total:
            return t, now + t.total
        return Timeouts(min(t.connect, left), left, min(t.stream_idle, left)), deadline

    def deadline_error(self, plan: Plan, deadline_s_from: float, attempts: list[Attempt]
                       ) -> DeadlineExceededError:
        err = DeadlineExceededError(f"the deadline ran out after {_perf() - deadline_s_from:.3f}s for "
                                    f"{plan.name!r} ({len(attempts)} attempt(s): "
                                    + ", ".join(f"{a.target} {a.outcome}" for a in attempts) + ")")
        err.attempts = attempts  # type: ignore[attr-defined]
        return err

    def after_failure(self, target: PlannedTarget, exc: ProviderError, retry_index: int,
                      deadline: float | None) -> float | None:
        """Record ``exc``; return seconds to wait before retrying ``target``, or None to move on."""
        if counts_as_failure(exc):
            self.breakers.record_failure(target.key)
            if self.breakers.is_open(target.key):
                return None
        else:
            self.breakers.release_probe(target.key)
        if _log.isEnabledFor(logging.INFO):
            _log.info("%s failed: %s (status %s)", target.key, type(exc).__name__, exc.status_code)
        wait = self.retry.wait_before_retry(exc, retry_index)
        if wait is not None and deadline is not None and _perf() + wait >= deadline:
            return None
        return wait

    async def _complete(self, plan: Plan, request: ChatRequest, started: float, deadline: float | None,
                        decision: dict[str, Any] | None) -> CallResult:
        loop = asyncio.get_running_loop()
        tries = Tries(self, plan, request, started, deadline)
        while True:
            target = tries.next()
            provider = tries.provider
            timeouts = tries.timeouts
            # HTTP providers enforce timeouts.total themselves: a second timer would only cost CPU
            scope = None if provider.enforces_timeouts else asyncio.timeout_at(loop.time() + (tries.ends - tries.t0))
            try:
                if scope is None:
                    response = await provider.complete(request, timeouts=timeouts)
                else:
                    async with scope:
                        response = await provider.complete(request, timeouts=timeouts)
            except ProviderError as exc:
                error: ProviderError = exc
            except TimeoutError:
                if scope is None or not scope.expired():
                    tries.cancelled()
                    raise
                error = APITimeoutError(f"no answer within {timeouts.total:g}s", target=target.key)
            except BaseException:  # cancelled, or a provider's own bug: its probe must not stay claimed
                tries.cancelled()
                raise
            else:
                tries.succeeded()
                usage = response.usage
                cost = target.cost(usage) if target.cost is not None else self._unknown(target.key)
                return CallResult(response.text, target.key, target.provider, plan.role, usage, cost,
                                  _perf() - started, None, tries.attempts, response.finish_reason,
                                  response.logprobs, decision)
            if deadline is not None and tries.ends == deadline and isinstance(error, APITimeoutError):
                # a plain call names the attempt by whether the deadline had passed when it ended
                now = _perf()
                tries.deadline_ran_out(error, "DeadlineExceededError" if now >= deadline else "APITimeoutError",
                                       None, now)
            await tries.failed(error)

    def _unknown(self, key: str) -> None:
        self.prices.warn_unknown(key)
        return None


def _as_dict(decision: Any) -> dict[str, Any]:
    if isinstance(decision, dict):
        return decision
    if is_dataclass(decision) and not isinstance(decision, type):
        return asdict(decision)
    if hasattr(decision, "model_dump"):
        return decision.model_dump()
    return dict(vars(decision))


__all__ = ["Client"]
