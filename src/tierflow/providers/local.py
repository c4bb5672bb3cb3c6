"""The embedded ``local`` provider: GGUF models run on the CPU by llama-cpp-python.

No server, no key, no network: the model named in a request (a name from
:mod:`tierflow.local_models`, a name mapped in ``options.models``, or a path to a ``.gguf`` file)
is loaded lazily, once per process, and shared by every provider instance and client.

Concurrency: llama.cpp keeps one decoding state per loaded model, so **each loaded model runs one
generation at a time**. Every loaded model owns a single worker thread; requests for it queue in
FIFO order on that thread (a lock with a queue), while the event loop stays free. Different models
run in parallel. A request cancelled while it waits in the queue never starts; one cancelled while
it generates stops at the next token.

Streaming: the worker pushes each piece of text through an ``asyncio.Queue``; closing or
cancelling the stream stops the generation. ``complete`` is the same stream, joined.

Sampling: ``temperature`` (default 0.2, llama-cpp-python's chat default), ``max_tokens``,
``stop`` (plus the chat template's end token), ``seed`` (random when not given), JSON output with
``response_format`` (``json_object`` -> a JSON grammar; ``json_schema`` -> a grammar built from the
schema), per-token ``logprobs`` / ``top_logprobs`` of the model's own distribution. Extra request
fields ``top_p``, ``top_k``, ``min_p``, ``repeat_penalty``, ``presence_penalty`` and
``frequency_penalty`` are passed to the sampler; other extra fields are ignored. ``tools`` are
refused (:class:`~tierflow.errors.BadRequestError`): the packaged models' chat templates have no
tool-call format to parse. Usage counts are
the real prompt and generated token counts (the end-of-generation token is not counted).

Output cap and runaway generations: a request without ``max_tokens`` gets the provider's
``options.max_tokens`` (default :data:`DEFAULT_MAX_TOKENS`; a role's ``max_tokens`` in the registry
or a call's own wins), since a small model can otherwise write until its context is full. A
generation that repeats itself (the same block of up to 64 tokens at least 4 times in a row,
over at least 128 tokens) is stopped with finish reason ``"repetition"``; ``options.stop_repetition:
false`` turns that off.

Options (``providers.<name>.options``): ``n_ctx`` (default 4096), ``n_threads`` (default: the
cores this process may use that other processes leave free, see :func:`_threads_for`), ``models``
(extra names -> ``.gguf`` paths), ``models_dir`` (where catalogue names are looked up; default
``$TIERFLOW_HOME/models``), ``max_tokens``, ``stop_repetition``.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import math
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from tierflow.errors import APITimeoutError, BadRequestError, ConfigError, LocalModelLoadError, Problem
from tierflow.local_models import resolve_model_file
from tierflow.providers._local_worker import (
    DEFAULT_TEMPERATURE,
    _Job,
    _LoadedModel,
)
from tierflow.providers.base import (
    Provider,
    ProviderSettings,
    Timeouts,
    register_provider,
)
from tierflow.types import ChatRequest, ChatResponse, EmbeddingResponse, StreamChunk, TokenLogprob, Usage

DEFAULT_N_CTX = 4096
DEFAULT_MAX_TOKENS = 512
"""The output cap of a local request that sets none (issue: a 135M model wrote for minutes)."""
_OPTION_NAMES = ("n_ctx", "n_threads", "models", "models_dir", "max_tokens", "stop_repetition")


# --- options ----------------------------------------------------------------------------------


_EMBEDDERS = {"all-minilm-l6-v2": "minilm", "minilm": "minilm", "static": "static", "hashing": "hashing"}


@functools.cache
def _embedder(name: str) -> Any:
    """One embedder per name for the process (the MiniLM session is loaded once)."""
    from tierflow.routing.features.embed import get_embedder

    return get_embedder(name, cache=False)


@functools.cache
def _default_threads() -> int:
    """Threads for a model, decided once per process (a changing count would load models twice)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not Unix
        load = 0.0
    return _threads_for(cores, os.cpu_count() or cores, load)


def _threads_for(cores: int, cpus: int, load: float) -> int:
    """Every one of the ``cores`` this process may use, less those other processes keep busy.

    llama.cpp's threads wait for each other at every step, so when other processes hold the cores a
    descheduled thread stalls the rest: on a 2-core machine with a load average of 15, a 1.5B model
    decoded 0.24 tokens/s with 2 threads and 2.9 with 1 (README, Providers). ``load`` is the
    1-minute load average of a machine of ``cpus`` CPUs (in a container, the host's); this process's
    share is ``load * cores / cpus``, of which one is taken to be this process itself.
    """
    others = max(0.0, load * cores / max(cpus, 1) - 1.0)
    return max(1, cores - math.floor(others))


def _is_int(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


@dataclass(frozen=True, slots=True)
class _Options:
    n_ctx: int
    n_threads: int
    models: dict[str, str]
    models_dir: Path | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    stop_repetition: bool = True

    @classmethod
    def parse(cls, provider: str, options: dict[str, Any]) -> _Options:
        where = f"providers.{provider}.options"
        problems = [Problem(f"{where}.{k}", f"unknown option; expected one of: {', '.join(_OPTION_NAMES)}")
                    for k in options if k not in _OPTION_NAMES]
        n_ctx, n_threads = options.get("n_ctx", DEFAULT_N_CTX), options.get("n_threads")
        if not _is_int(n_ctx, 256):
            problems.append(Problem(f"{where}.n_ctx", f"expected an integer >= 256, got {n_ctx!r}"))
        if n_threads is not None and not _is_int(n_threads, 1):
            problems.append(Problem(f"{where}.n_threads",
                                    f"expected an integer >= 1, got {n_threads!r}"))
        models = options.get("models", {})
        if not isinstance(models, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in models.items()):
            problems.append(Problem(f"{where}.models", "expected a mapping of name -> .gguf path"))
            models = {}
        models_dir = options.get("models_dir")
        if models_dir is not None and not isinstance(models_dir, str):
            problems.append(Problem(f"{where}.models_dir", f"expected a directory path, got {models_dir!r}"))
        max_tokens = options.get("max_tokens", DEFAULT_MAX_TOKENS)
        if not _is_int(max_tokens, 1):
            problems.append(Problem(f"{where}.max_tokens", f"expected an integer >= 1, got {max_tokens!r}"))
        stop_repetition = options.get("stop_repetition", True)
        if not isinstance(stop_repetition, bool):
            problems.append(Problem(f"{where}.stop_repetition", f"expected true or false, got {stop_repetition!r}"))
        if problems:
            raise ConfigError(problems)
        return cls(n_ctx, n_threads or _default_threads(), dict(models),
                   Path(models_dir).expanduser() if models_dir else None, max_tokens, stop_repetition)


_LOADED: dict[tuple[str, int, int], _LoadedModel] = {}
_LOADED_LOCK = threading.Lock()


def _loaded_model(path: Path, n_ctx: int, n_threads: int) -> _LoadedModel:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _LOADED_LOCK:
        model = _LOADED.get(key)
        if model is None:
            if not _LOADED:
                # free models before interpreter teardown: llama-cpp's own finaliser fails
                # ("'NoneType' object is not callable") once module globals are gone
                atexit.register(unload_models)
            model = _LOADED[key] = _LoadedModel(path, n_ctx, n_threads)
        return model


def unload_models() -> None:
    """Free every model loaded in this process (waits for running generations)."""
    with _LOADED_LOCK:
        models = list(_LOADED.values())
        _LOADED.clear()
    for model in models:
        model.close()


@dataclass(frozen=True, slots=True)
class LocalModelStats:
    """What one loaded model did in this process (see :meth:`LocalProvider.model_stats`)."""

    path: Path
    loaded: bool
    generations: int
    tokens_generated: int


# --- the provider -----------------------------------------------------------------------------


@register_provider
class LocalProvider(Provider):
    """``kind: local``: GGUF models in this process. One attempt per call, like every provider."""

    kind: ClassVar[str] = "local"
    enforces_timeouts: ClassVar[bool] = True  # complete() is the stream, bounded by timeouts.total

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        super().__init__(name, settings)
        self._options = _Options.parse(name, settings.options)

    def _model_for(self, model: str) -> tuple[_LoadedModel, str]:
        target = f"{self.name}/{model}"
        path = resolve_model_file(self._options.models.get(model, model), self._options.models_dir)
        return _loaded_model(path, self._options.n_ctx, self._options.n_threads), target

    async def complete(self, request: ChatRequest, *, timeouts: Timeouts) -> ChatResponse:
        parts: list[str] = []
        logprobs: list[TokenLogprob] = []
        usage, finish = Usage(), None
        async for chunk in self.stream(request, timeouts=timeouts):
            parts.append(chunk.text)
            logprobs.extend(chunk.logprobs or [])
            usage = chunk.usage or usage
            finish = chunk.finish_reason or finish
        return ChatResponse(text="".join(parts), usage=usage, finish_reason=finish,
                            logprobs=logprobs if request.logprobs else None, model=request.model)

    async def embed(self, model: str, inputs: list[str], *, timeouts: Timeouts) -> EmbeddingResponse:
        """The routing package's local embedders: ``all-minilm-l6-v2`` (``minilm``; 384 dimensions),
        ``static`` or ``hashing``; run on a worker thread, bounded by ``timeouts.total``."""
        target = f"{self.name}/{model}"
        name = _EMBEDDERS.get(model.lower())
        if name is None:
            raise BadRequestError(f"no local embedding model {model!r}; local embeddings are "
                                  f"{sorted(_EMBEDDERS)}", target=target, status_code=400)
        embedder = _embedder(name)
        try:
            async with asyncio.timeout(timeouts.total):
                matrix = await asyncio.to_thread(embedder.embed, list(inputs))
        except TimeoutError:
            raise APITimeoutError(f"no embeddings within {timeouts.total:g}s", target=target) from None
        usage = Usage(input_tokens=sum(len(t.split()) for t in inputs))
        return EmbeddingResponse([[float(x) for x in row] for row in matrix], usage, model)

    async def stream(self, request: ChatRequest, *,
                     timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        if request.tools:
            raise BadRequestError("local models do not take tools here: the chat templates of the packaged GGUF "
                                  "models have no tool-call format tierflow can parse; call a role on an "
                                  "OpenAI-compatible, Anthropic or Gemini provider",
                                  target=f"{self.name}/{request.model}", status_code=400)
        model, target = self._model_for(request.model)
        if request.max_tokens is None:
            request = replace(request, max_tokens=self._options.max_tokens)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        def emit(event: tuple[Any, ...]) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                job.cancel.set()

        job = _Job(request, target, emit, stop_repetition=self._options.stop_repetition)
        future = loop.run_in_executor(model.executor, model.run, job)
        deadline = loop.time() + timeouts.total
        first = True
        try:
            while True:
                wait = deadline - loop.time()
                if not first:
                    wait = min(wait, timeouts.stream_idle)
                try:
                    event = await asyncio.wait_for(events.get(), max(wait, 0.0))
                except TimeoutError:
                    raise APITimeoutError(
                        f"no output within {wait:.1f}s (the model may be busy with other "
                        f"requests: it runs one generation at a time)", target=target) from None
                if event[0] == "text":
                    first = False
                    yield StreamChunk(text=event[1], logprobs=event[2])
                elif event[0] == "done":
                    yield StreamChunk(usage=event[2], finish_reason=event[1])
                    return
                else:
                    raise event[1]
        finally:
            job.cancel.set()
            future.cancel()

    async def model_stats(self, model: str) -> LocalModelStats:
        """Wait until ``model`` has no queued or running generation, then report on it."""
        loaded, _ = self._model_for(model)
        await asyncio.get_running_loop().run_in_executor(loaded.executor, lambda: None)
        return LocalModelStats(loaded.path, loaded._llama is not None, loaded.generations,
                               loaded.tokens_generated)

    async def aclose(self) -> None:
        """Nothing to release: loaded models are shared by the process (see unload_models)."""


__all__ = ["LocalProvider", "LocalModelLoadError", "LocalModelStats", "unload_models",
           "DEFAULT_N_CTX", "DEFAULT_MAX_TOKENS", "DEFAULT_TEMPERATURE"]
