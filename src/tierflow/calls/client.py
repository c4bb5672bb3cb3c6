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
The role's ``temperature`` and ``max_tokens`` apply unless the call sets its own; its
``system_context`` is put before the prompt's own leading system message(s), joined into one
system message, so both apply (:mod:`tierflow.calls._request`). Cancelling the awaiting task
cancels the upstream request. The sync twin :meth:`Client.call` runs on a private event-loop
thread; ``with Client(...) as c`` and ``async with`` close the client, and a client used through
:meth:`Client.call` that is never closed is closed when it is garbage-collected or the
interpreter exits. Observers registered on the client receive the call's events
(:mod:`tierflow.calls.events`).

The hot path does no pydantic validation, no registry or price look-ups (plans are cached), no
log formatting unless a failure is logged, and builds no event unless an observer is registered.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tierflow import _trace_frame
from tierflow.calls._attempts import CallSeams, Tries, complete, new_request_id
from tierflow.calls._embed import aembed
from tierflow.calls._portal import Portal, close_all, stop_portal
from tierflow.calls._request import Sampling, build_request
from tierflow.calls._routing import as_dict, choose, load_router_factory, resolve
from tierflow.calls._worst_case import UnknownPrice, worst_case_cost
from tierflow.calls.cooldown import CircuitBreakers
from tierflow.calls.events import Observer, refused
from tierflow.calls.plan import PlannedTarget, Planner, SetupClock
from tierflow.calls.retry import RetryPolicy
from tierflow.calls.streaming import CallStream, Prepared
from tierflow.config import ProjectConfig, load_config
from tierflow.errors import ClientClosedError
from tierflow.pricing import PriceTable
from tierflow.providers.base import Provider, create_provider
from tierflow.registry import Registry
from tierflow.types import CallResult, EmbeddingResult, Message, Usage

_T = TypeVar("_T")
_perf = time.perf_counter


class Client:
    """Calls roles of one project config. Share one client: its breakers and connections are.

    ``observers``: callables receiving the call events (:mod:`tierflow.calls.events`). ``clock``:
    the breakers' clock (``time.monotonic``; tests pass a manual one). ``trace_config``: add the
    tracers of the config's ``tracing:`` section (ledger, OpenTelemetry; docs/tracing.md).
    """

    def __init__(self, config: ProjectConfig | None = None, *, providers: dict[str, Provider] | None = None,
                 observers: Iterable[Observer] = (), clock: Callable[[], float] = time.monotonic,
                 trace_config: bool = True) -> None:
        self.config = config if config is not None else load_config(None)
        rel = self.config.reliability
        self.retry = RetryPolicy(rel.max_retries, rel.backoff_initial_s, rel.backoff_max_s, rel.jitter,
                                 rel.retry_after_max_s)
        self.breakers = CircuitBreakers(rel.cooldown.failures, rel.cooldown.seconds, clock=clock)
        self.prices = PriceTable(self.config.prices)
        self.default_deadline_s = rel.deadline_s
        self._setup = SetupClock()
        self.planner = Planner(self.config, self.prices, load_router_factory(self.config), setup=self._setup)
        self._observers: list[Observer] = list(observers)
        if trace_config and (self.config.tracing.ledger or self.config.tracing.otel):
            # the config's `tracing:`, from the tracing package through the core's hooks (docs/tracing.md)
            self._observers += _trace_frame.hooks().tracers_from_config(self.config)
        self._seams = CallSeams(self.breakers, self.retry, self.provider, self._cost, self._observers, self._setup)
        self._given = dict(providers or {})
        self._by_loop: dict[asyncio.AbstractEventLoop, dict[str, Provider]] = {}
        self._portal: Portal | None = None
        self._finalizer: weakref.finalize[..., Client] | None = None
        self._closed = False

    @classmethod
    def from_config(cls, path: str | Path | None = None, *, providers: dict[str, Provider] | None = None,
                    observers: Iterable[Observer] = (), clock: Callable[[], float] = time.monotonic) -> Client:
        """A client of the config file ``path`` (None: ``$TIERFLOW_CONFIG`` or the packaged default)."""
        return cls(load_config(path), providers=providers, observers=observers, clock=clock)

    @property
    def registry(self) -> Registry:
        return self.config.registry

    def add_observer(self, observer: Observer) -> None:
        """Give every later call event to ``observer`` (see :mod:`tierflow.calls.events`)."""
        self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        self._observers.remove(observer)

    # --- async API ------------------------------------------------------------------------------

    async def acall(self, target: str, messages: list[Message] | str, *, temperature: float | None = None,
                    max_tokens: int | None = None, stop: str | list[str] | None = None,
                    response_format: dict[str, Any] | None = None, logprobs: bool = False,
                    top_logprobs: int | None = None, seed: int | None = None,
                    fallback: Sequence[str] | None = None, deadline_s: float | None = None,
                    request_id: str | None = None, split_key: str | int | None = None, **extra: Any) -> CallResult:
        """Call ``target`` (a role or ``"provider/model"``) and return the answer with its record.

        ``request_id`` names the call in its events and result (default: a generated id).
        ``split_key`` (a user id, an API key, a session) keeps a traffic split's callers on one
        variant; without it a split draws at random (README, "Traffic splits"). Other roles ignore it.
        """
        started = _perf()
        rid = new_request_id() if request_id is None else request_id
        sampling = Sampling(temperature, max_tokens, stop, response_format, logprobs, top_logprobs, seed, extra)
        prepared = await self._prepare(target, messages, sampling, fallback, split_key, deadline_s, rid, started,
                                       stream=False)
        plan, decision = prepared.plan, prepared.decision
        tries = Tries(self._seams, plan, prepared.request, rid, started, prepared.deadline, prepared.setup_s)
        if not self._observers:
            return await complete(tries, decision)
        try:
            result = await complete(tries, decision)
        except BaseException as exc:
            tries.call_finished(None, exc, None, decision, stream=False)
            raise
        tries.call_finished(result, None, None, decision, stream=False)
        return result

    def astream(self, target: str, messages: list[Message] | str, *, temperature: float | None = None,
                max_tokens: int | None = None, stop: str | list[str] | None = None,
                response_format: dict[str, Any] | None = None, logprobs: bool = False,
                top_logprobs: int | None = None, seed: int | None = None,
                fallback: Sequence[str] | None = None, deadline_s: float | None = None,
                request_id: str | None = None, split_key: str | int | None = None, **extra: Any) -> CallStream:
        """Stream ``target``'s answer: ``async for chunk in client.astream(...)``; then ``.result``.

        Falls back only before the first chunk; a failure after it raises
        :class:`~tierflow.errors.StreamInterruptedError` (chunks are never replayed).
        """
        started = _perf()
        rid = new_request_id() if request_id is None else request_id
        if self._closed:
            raise self._closed_error()

        sampling = Sampling(temperature, max_tokens, stop, response_format, logprobs, top_logprobs, seed, extra)
        prepare = partial(self._prepare, target, messages, sampling, fallback, split_key, deadline_s, rid, started,
                          stream=True)  # when iteration starts
        return CallStream(self._seams, prepare, started, rid)

    async def _prepare(self, target: str, messages: list[Message] | str, sampling: Sampling,
                       fallback: Sequence[str] | None, split_key: str | int | None, deadline_s: float | None,
                       rid: str, started: float, *, stream: bool) -> Prepared:
        """``target``'s plan (a route, split and ``fallback`` resolved) and request, for ``acall`` and
        ``astream``; a failure is reported as a refused call and raised. ``sampling``: the request's
        parameters (:func:`build_request`'s, after the plan and the messages)."""
        try:
            if self._closed and not stream:  # a stream is refused when it is made, before any event
                raise self._closed_error()
            setup = self._setup.spent
            plan = self.planner.plan(target)
            setup = self._setup.spent - setup
            decision: dict[str, Any] | None = None
            if plan.router is not None or plan.split is not None or fallback:
                plan, decision, more = await resolve(self.planner, plan, messages, fallback, self._observers, rid,
                                                     None if split_key is None else str(split_key))
                setup += more
            request = build_request(plan, messages, *sampling)
        except BaseException as exc:
            if self._observers:
                refused(self._observers, rid, target, exc, _perf() - started, stream=stream)
            raise
        return Prepared(plan, request, self._deadline(deadline_s, started), decision, setup)

    async def aclose(self) -> None:
        """Close every provider this client opened (and its sync loop); later calls are refused.

        Calls still in flight end with their current attempt: their next attempt raises
        :class:`~tierflow.errors.ClientClosedError`, and no connection is opened again.
        """
        self._closed = True
        if self._finalizer is not None:
            self._finalizer()  # the sync twin's loop, and what was opened on it
            self._portal = None
        here = self._by_loop.pop(asyncio.get_running_loop(), {})
        await close_all([*here.values(), *self._take_providers()])

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- sync API -------------------------------------------------------------------------------

    def call(self, target: str, messages: list[Message] | str, **kwargs: Any) -> CallResult:
        """The sync twin of :meth:`acall` (runs on this client's private event-loop thread)."""
        return self._run_sync(self.acall(target, messages, **kwargs))

    def close(self) -> None:
        """Sync twin of :meth:`aclose`; ``with Client(...) as client:`` calls it on exit."""
        self._closed = True
        if self._finalizer is not None:
            self._finalizer()
            self._portal = None
        if not any(self._by_loop.values()) and not self._given:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(close_all(self._take_providers()))
            return
        raise RuntimeError("Client.close() was called inside a running event loop with providers open on "
                           "it; use `await client.aclose()` (or `async with`) there")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run_sync(self, coro: Coroutine[Any, Any, _T]) -> _T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()  # never awaited: close it quietly
            raise RuntimeError("Client.call() was used inside a running event loop; use "
                               "`await client.acall(...)` there")
        portal = self._portal
        if portal is None:
            if self._closed:
                coro.close()
                raise self._closed_error()
            portal = self._portal = Portal()
            # closes what the sync twin opened when the client is collected or the interpreter exits
            self._finalizer = weakref.finalize(self, stop_portal, portal, self._by_loop, self._given)
        return portal.run(coro)

    async def aembed(self, target: str, inputs: list[str] | str, *, deadline_s: float | None = None,
                     request_id: str | None = None) -> EmbeddingResult:
        """One vector per input from ``target``, a role with the ``embedding`` modality (README,
        "Embeddings"): its chain with breakers, retries and fallbacks, like a chat call."""
        rid = new_request_id() if request_id is None else request_id
        if self._closed:
            raise self._closed_error()
        return await aembed(self, target, inputs, rid, deadline_s)

    def embed(self, target: str, inputs: list[str] | str, **kwargs: Any) -> EmbeddingResult:
        """The sync twin of :meth:`aembed`."""
        return self._run_sync(self.aembed(target, inputs, **kwargs))

    def worst_case_cost(self, target: str, messages: list[Message] | str, max_tokens: int, *,
                        unknown: UnknownPrice | None = None) -> float | None:
        """The most a call of ``target`` with ``messages`` and ``max_tokens`` can cost (USD): every
        input byte a token, all ``max_tokens`` generated, at the dearest target that could answer
        (fallbacks, routed candidates, split variants). None if one of them has no known price and
        ``unknown`` (a ``Usage -> USD`` estimate) is not given. Budgets reserve it before a call."""
        return worst_case_cost(self.planner, target, messages, max_tokens, unknown)

    # --- routed roles ---------------------------------------------------------------------------

    async def adecide(self, target: str, messages: list[Message] | str) -> dict[str, Any] | None:
        """What a routed role would choose for ``messages`` (None for a plain role); no model is called."""
        router = self.planner.plan(target).router
        return None if router is None else await choose(router, messages)

    async def anext_step(self, target: str, messages: list[Message] | str, answers: Mapping[str, str | None]
                         ) -> dict[str, Any] | None:
        """A routed role's next step for ``messages`` given the ``answers`` of the roles consulted so
        far (None for a plain role); no model is called (see ``RoutedCascade``)."""
        next_step = getattr(self.planner.plan(target).router, "next_step", None)
        if next_step is None:
            return None
        step = next_step(messages, answers)
        return None if step is None else as_dict(step)

    # --- the collaborators of the attempt loop ----------------------------------------------------

    def provider(self, name: str) -> Provider:
        """The provider ``name`` for the running event loop (created on first use)."""
        if self._closed:
            raise self._closed_error()
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
            t0 = _perf()
            p = providers[name] = create_provider(name, self.config.provider_settings(name))
            self._setup.spent += _perf() - t0
        return p

    def _cost(self, target: PlannedTarget, usage: Usage) -> float | None:
        if target.cost is not None:
            return target.cost(usage)
        self.prices.warn_unknown(target.key)
        return None

    # --- internals ------------------------------------------------------------------------------

    def _deadline(self, deadline_s: float | None, started: float) -> float | None:
        d = self.default_deadline_s if deadline_s is None else deadline_s
        return None if d is None else started + d

    def _take_providers(self) -> list[Provider]:
        """Every provider still held (on any loop, and the given ones), forgotten by the client."""
        providers = [p for by_name in self._by_loop.values() for p in by_name.values()]
        providers += self._given.values()
        self._by_loop.clear()
        self._given.clear()
        return providers

    @staticmethod
    def _closed_error() -> ClientClosedError:
        return ClientClosedError("this tierflow Client is closed (close() or aclose() was called): calls made "
                                 "after that, and further attempts of calls in flight then, are refused; "
                                 "create a new Client")


__all__ = ["Client"]
