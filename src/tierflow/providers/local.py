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
``frequency_penalty`` are passed to the sampler; other extra fields are ignored. Usage counts are
the real prompt and generated token counts (the end-of-generation token is not counted).

Options (``providers.<name>.options``): ``n_ctx`` (default 4096), ``n_threads`` (default: every
core this process may use), ``models`` (extra names -> ``.gguf`` paths).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import random
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tierflow.errors import APITimeoutError, BadRequestError, ConfigError, Problem, ProviderError
from tierflow.local_models import LocalModelError, check_gguf_header, resolve_model_file
from tierflow.providers.base import Provider, ProviderSettings, Timeouts, register_provider
from tierflow.types import ChatRequest, ChatResponse, Message, StreamChunk, TokenLogprob, Usage

DEFAULT_N_CTX = 4096
DEFAULT_TEMPERATURE = 0.2
_SAMPLER_EXTRAS = ("top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty",
                   "frequency_penalty")


class LocalModelLoadError(ProviderError):
    """llama.cpp could not load a GGUF file (corrupt, truncated or unsupported)."""


# --- options ----------------------------------------------------------------------------------


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class _Options:
    n_ctx: int
    n_threads: int
    models: dict[str, str]

    @classmethod
    def parse(cls, provider: str, options: dict[str, Any]) -> _Options:
        where = f"providers.{provider}.options"
        problems = [Problem(f"{where}.{k}", "unknown option; expected n_ctx, n_threads or models")
                    for k in options if k not in ("n_ctx", "n_threads", "models")]
        n_ctx, n_threads = options.get("n_ctx", DEFAULT_N_CTX), options.get("n_threads")
        if not isinstance(n_ctx, int) or isinstance(n_ctx, bool) or n_ctx < 256:
            problems.append(Problem(f"{where}.n_ctx", f"expected an integer >= 256, got {n_ctx!r}"))
        if n_threads is not None and (not isinstance(n_threads, int) or isinstance(n_threads, bool)
                                      or n_threads < 1):
            problems.append(Problem(f"{where}.n_threads",
                                    f"expected an integer >= 1, got {n_threads!r}"))
        models = options.get("models", {})
        if not isinstance(models, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in models.items()):
            problems.append(Problem(f"{where}.models", "expected a mapping of name -> .gguf path"))
            models = {}
        if problems:
            raise ConfigError(problems)
        return cls(n_ctx, n_threads or _default_threads(), dict(models))


# --- one loaded model -------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    """One generation: the request, a cancel flag, and where to send events (thread-safe)."""

    request: ChatRequest
    target: str
    emit: Callable[[tuple[Any, ...]], None]
    cancel: threading.Event = field(default_factory=threading.Event)


class _LoadedModel:
    """A GGUF file loaded (lazily, on its worker thread) with one ``n_ctx`` / ``n_threads``."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tierflow-local")
        self._llama: Any = None
        self._formatter: Any = None
        self.generations = 0
        self.tokens_generated = 0

    def _load(self, target: str) -> Any:
        if self._llama is None:
            try:
                check_gguf_header(self.path)
            except (LocalModelError, OSError) as exc:
                raise LocalModelLoadError(f"cannot load {self.path}: {exc}", target=target) from exc
            try:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
            except ImportError as exc:
                raise LocalModelLoadError("llama-cpp-python is not installed: run "
                                          "scripts/bootstrap.sh (it builds and installs it)",
                                          target=target) from exc
            try:
                llama = _hooked_llama_class()(
                    model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                    n_threads_batch=self.n_threads, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                raise LocalModelLoadError(f"cannot load {self.path}: {exc}", target=target) from exc
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise LocalModelLoadError(f"{self.path} has no chat template in its GGUF metadata",
                                          target=target)
            eos, bos = llama.token_eos(), llama.token_bos()
            text = llama._model.token_get_text
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token=text(eos) if eos != -1 else "",
                bos_token=text(bos) if bos != -1 else "", stop_token_ids=[eos])
            self._llama = llama
        return self._llama

    def run(self, job: _Job) -> None:
        """Worker thread: generate for ``job``, emitting ("text", str, logprobs), then
        ("done", finish_reason, usage) or ("error", exception)."""
        if job.cancel.is_set():
            return
        try:
            self._generate(job)
        except ProviderError as exc:
            job.emit(("error", exc))
        except ValueError as exc:  # llama.cpp's way of rejecting a request (context length...)
            job.emit(("error", BadRequestError(str(exc), target=job.target, status_code=400)))
        except Exception as exc:  # noqa: BLE001 - surfaced to the caller, with its cause
            err = ProviderError(f"local generation failed: {type(exc).__name__}: {exc}",
                                target=job.target)
            err.__cause__ = exc
            job.emit(("error", err))

    def _generate(self, job: _Job) -> None:
        llama = self._load(job.target)
        from llama_cpp import LogitsProcessorList

        req = job.request
        formatted = self._formatter(messages=_text_messages(req.messages, job.target))
        prompt = llama.tokenize(formatted.prompt.encode("utf-8"),
                                add_bos=not formatted.added_special, special=True)
        if len(prompt) >= self.n_ctx:
            raise BadRequestError(
                f"the prompt is {len(prompt)} tokens; the context window is {self.n_ctx} "
                f"(option n_ctx)", target=job.target, status_code=400)
        top_logprobs = (req.top_logprobs or 0) if req.logprobs else None
        tracker = _TokenTracker(llama, job.cancel, top_logprobs)
        extras = {k: req.extra[k] for k in _SAMPLER_EXTRAS if k in req.extra}
        llama.reset()  # same prompt + seed -> same answer, whatever ran before
        llama.on_token = tracker.on_token
        finish: str | None = None
        try:
            pieces = llama.create_completion(
                prompt=prompt, max_tokens=req.max_tokens,
                temperature=DEFAULT_TEMPERATURE if req.temperature is None else req.temperature,
                stop=[s for s in (req.stop or []) if s] + list(formatted.stop or []),
                seed=req.seed if req.seed is not None else random.getrandbits(32),
                grammar=_grammar(req.response_format, job.target),
                logits_processor=LogitsProcessorList([tracker.capture]) if req.logprobs else None,
                stream=True, **extras)
            for piece in pieces:
                choice = piece["choices"][0]
                if choice["text"]:
                    job.emit(("text", choice["text"], tracker.take_logprobs()))
                finish = choice["finish_reason"] or finish
        finally:
            llama.on_token = None
            self.generations += 1
            self.tokens_generated += tracker.generated
        if job.cancel.is_set():
            finish = "cancelled"
        job.emit(("done", finish, Usage(len(prompt), tracker.generated)))

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._llama is not None:
            self._llama.close()
            self._llama = None


class _TokenTracker:
    """Per-generation hook: counts generated tokens, stops on cancel, records logprobs."""

    def __init__(self, llama: Any, cancel: threading.Event, top_logprobs: int | None) -> None:
        import llama_cpp

        self._is_eog = lambda tok: llama_cpp.llama_vocab_is_eog(llama._model.vocab, tok)
        self._piece = lambda tok: llama.detokenize([tok]).decode("utf-8", errors="replace")
        self._cancel = cancel
        self._top = top_logprobs
        self._last: Any = None
        self._logprobs: list[TokenLogprob] = []
        self.generated = 0

    def capture(self, _input_ids: Any, logits: Any) -> Any:
        """Logits processor: keep the log-softmax of the step about to be sampled."""
        import numpy as np

        self._last = logits - np.logaddexp.reduce(logits)
        return logits

    def on_token(self, token: int) -> bool:
        """Called with each sampled token; False stops the generation."""
        if self._cancel.is_set():
            return False
        if self._is_eog(token):
            return True
        self.generated += 1
        if self._top is not None and self._last is not None:
            lp = self._last
            top = []
            if self._top:
                import numpy as np

                best = np.argpartition(lp, -self._top)[-self._top:]
                top = sorted(((self._piece(int(i)), float(lp[i])) for i in best),
                             key=lambda t: -t[1])
            self._logprobs.append(TokenLogprob(self._piece(token), float(lp[token]), top))
        return True

    def take_logprobs(self) -> list[TokenLogprob] | None:
        if self._top is None:
            return None
        taken, self._logprobs = self._logprobs, []
        return taken


_HOOKED: Any = None


def _hooked_llama_class() -> Any:
    """``llama_cpp.Llama`` with a per-token hook (imported lazily: llama_cpp is heavy)."""
    global _HOOKED
    if _HOOKED is None:
        from llama_cpp import Llama

        class HookedLlama(Llama):  # type: ignore[misc]
            on_token: Callable[[int], bool] | None = None

            def generate(self, tokens: Any, **kwargs: Any) -> Any:  # type: ignore[override]
                for token in super().generate(tokens, **kwargs):
                    if self.on_token is not None and not self.on_token(token):
                        return
                    yield token

        _HOOKED = HookedLlama
    return _HOOKED


def _text_messages(messages: list[Message], target: str) -> list[dict[str, str]]:
    """Chat messages with plain-text content (OpenAI text parts are joined)."""
    out = []
    for i, m in enumerate(messages):
        content = m.get("content") or ""
        if isinstance(content, list):
            texts = []
            for part in content:
                if not (isinstance(part, dict) and part.get("type") == "text"):
                    raise BadRequestError(f"messages[{i}]: local models accept text parts only",
                                          target=target, status_code=400)
                texts.append(str(part.get("text", "")))
            content = "".join(texts)
        out.append({"role": str(m.get("role", "user")), "content": str(content)})
    return out


def _grammar(response_format: dict[str, Any] | None, target: str) -> Any:
    """A llama.cpp grammar for an OpenAI-style ``response_format`` (None for plain text)."""
    if not response_format or response_format.get("type") == "text":
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

    kind = response_format.get("type")
    schema = response_format.get("schema")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise BadRequestError("response_format.json_schema.schema: expected a JSON schema "
                                  "object", target=target, status_code=400)
    elif kind != "json_object":
        raise BadRequestError(f"response_format.type: expected 'text', 'json_object' or "
                              f"'json_schema', got {kind!r}", target=target, status_code=400)
    try:
        if schema is not None:
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    except Exception as exc:  # noqa: BLE001 - the schema is the user's input
        raise BadRequestError(f"response_format: cannot build a grammar from the schema: {exc}",
                              target=target, status_code=400) from exc


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
        path = resolve_model_file(self._options.models.get(model, model))
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

    async def stream(self, request: ChatRequest, *,
                     timeouts: Timeouts) -> AsyncIterator[StreamChunk]:
        model, target = self._model_for(request.model)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

        def emit(event: tuple[Any, ...]) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                job.cancel.set()

        job = _Job(request, target, emit)
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
           "DEFAULT_N_CTX", "DEFAULT_TEMPERATURE"]
