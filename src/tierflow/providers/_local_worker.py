"""The generation worker of the ``local`` provider: one loaded GGUF model and its worker thread.

A :class:`_LoadedModel` loads its file lazily on its single worker thread and runs one
:class:`_Job` at a time, emitting ("text", ...), then ("done", ...) or ("error", ...) events;
a :class:`_TokenTracker` hooks every sampled token (count, cancel, logprobs, and a
:class:`RepetitionGuard` that stops a generation looping on itself). Private to
:mod:`tierflow.providers.local`, which queues jobs and turns events into stream chunks.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierflow.errors import BadRequestError, LocalModelError, LocalModelLoadError, ProviderError
from tierflow.local_models import check_gguf_header
from tierflow.types import ChatRequest, Message, TokenLogprob, Usage

DEFAULT_TEMPERATURE = 0.2
REPEAT_MAX_PERIOD = 64
"""The longest repeated block (in tokens) :class:`RepetitionGuard` looks for."""
REPEAT_MIN_COPIES = 4
REPEAT_MIN_TOKENS = 128
_SAMPLER_EXTRAS = ("top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty",
                   "frequency_penalty")


#: One model loads at a time: llama-cpp-python silences a load by pointing the process's file
#: descriptors 1 and 2 at /dev/null and back, so two loads at once can leave stdout and stderr
#: pointing at /dev/null for good.
_LOAD_LOCK = threading.Lock()


@dataclass(slots=True)
class _Job:
    """One generation: the request, a cancel flag, and where to send events (thread-safe)."""

    request: ChatRequest
    target: str
    emit: Callable[[tuple[Any, ...]], None]
    cancel: threading.Event = field(default_factory=threading.Event)
    stop_repetition: bool = True


class RepetitionGuard:
    """Spots a generation repeating itself: the same block of up to :data:`REPEAT_MAX_PERIOD` tokens
    at least :data:`REPEAT_MIN_COPIES` times in a row, over at least :data:`REPEAT_MIN_TOKENS` tokens.

    For each period L it keeps how many tokens in a row equalled the token L places before; the
    tail is periodic with period L over that many + L tokens. O(REPEAT_MAX_PERIOD) work per token.
    """

    def __init__(self, max_period: int = REPEAT_MAX_PERIOD, min_copies: int = REPEAT_MIN_COPIES,
                 min_tokens: int = REPEAT_MIN_TOKENS) -> None:
        self._tokens: list[int] = []
        self._runs = [0] * (max_period + 1)
        self._needed = [max(min_copies * period, min_tokens) - period for period in range(max_period + 1)]
        self.repeating = False

    def add(self, token: int) -> bool:
        """Record ``token``; True once the tail repeats (and from then on)."""
        tokens, runs, needed = self._tokens, self._runs, self._needed
        n = len(tokens)
        for period in range(1, min(n, len(runs) - 1) + 1):
            runs[period] = runs[period] + 1 if tokens[n - period] == token else 0
            if runs[period] >= needed[period]:
                self.repeating = True
        tokens.append(token)
        return self.repeating


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
                with _LOAD_LOCK:
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
        tracker = _TokenTracker(llama, job.cancel, top_logprobs,
                                RepetitionGuard() if job.stop_repetition else None)
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
        elif tracker.repetition is not None and tracker.repetition.repeating:
            finish = "repetition"
        job.emit(("done", finish, Usage(len(prompt), tracker.generated)))

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._llama is not None:
            self._llama.close()
            self._llama = None


class _TokenTracker:
    """Per-generation hook: counts generated tokens, stops on cancel, records logprobs."""

    def __init__(self, llama: Any, cancel: threading.Event, top_logprobs: int | None,
                 repetition: RepetitionGuard | None = None) -> None:
        import llama_cpp

        vocab = llama._model.vocab

        def is_eog(token: int) -> bool:
            return bool(llama_cpp.llama_vocab_is_eog(vocab, token))

        def piece(token: int) -> str:
            return str(llama.detokenize([token]).decode("utf-8", errors="replace"))

        self._is_eog = is_eog
        self._piece = piece
        self._cancel = cancel
        self._top = top_logprobs
        self._last: Any = None
        self._logprobs: list[TokenLogprob] = []
        self.generated = 0
        self.repetition = repetition

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
        if self.repetition is not None and self.repetition.add(token):
            return False  # looping: stop before this token is emitted
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

        class HookedLlama(Llama):
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
