"""The embedded local provider, exercised with real GGUF models on the CPU (no mocks).

Most tests use SmolLM2-135M (fast); one uses Qwen2.5-Coder-1.5B. Model tests are marked
``local_model`` and skipped when the model is not installed (``tierflow models pull``).
``n_threads=1`` keeps them steady on a busy machine; ``max_tokens`` stays small.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from pathlib import Path

import pytest

from tierflow.errors import APITimeoutError, BadRequestError, ConfigError, NotFoundError
from tierflow.local_models import CATALOGUE, LocalModelNotFoundError, model_path
from tierflow.providers._local_worker import REPEAT_MIN_TOKENS, RepetitionGuard
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.providers.local import DEFAULT_MAX_TOKENS, LocalModelLoadError, LocalProvider, _Options
from tierflow.types import ChatRequest

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-1.5b-instruct"
TIMEOUTS = Timeouts()


def _needs(name: str) -> pytest.MarkDecorator:
    if importlib.util.find_spec("llama_cpp") is None:
        return pytest.mark.skip(reason="llama-cpp-python is not installed (scripts/bootstrap.sh "
                                       "builds and installs it)")
    return pytest.mark.skipif(not model_path(name).is_file(), reason=(
        f"{name} not installed: run `tierflow models pull {name}` (scripts/bootstrap.sh does)"))


needs_smol = _needs(SMOL)
needs_qwen = _needs(QWEN)


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    p = create_provider("local", ProviderSettings(kind="local", options={"n_threads": 1}))
    assert isinstance(p, LocalProvider)
    return p


def _ask(prompt: str, model: str = SMOL, **kwargs: object) -> ChatRequest:
    params: dict = {"temperature": 0.0, "seed": 7, "max_tokens": 24, **kwargs}
    return ChatRequest(model=model, messages=[{"role": "user", "content": prompt}], **params)


# --- without a model --------------------------------------------------------------------------


async def test_missing_model_says_how_to_pull_it(tmp_path: Path) -> None:
    p = create_provider("local", ProviderSettings(kind="local", options={"models_dir": str(tmp_path)}))
    with pytest.raises(LocalModelNotFoundError) as err:
        await p.complete(_ask("hi"), timeouts=TIMEOUTS)
    assert isinstance(err.value, NotFoundError)
    assert f"tierflow models pull {SMOL}" in str(err.value) and str(tmp_path) in str(err.value)
    assert err.value.target == f"local/{SMOL}"


async def test_unknown_model_name_lists_the_catalogue() -> None:
    p = create_provider("local", ProviderSettings(kind="local"))
    with pytest.raises(NotFoundError) as err:
        await p.complete(_ask("hi", model="no-such-model"), timeouts=TIMEOUTS)
    assert "no-such-model" in str(err.value) and all(name in str(err.value) for name in CATALOGUE)


async def test_a_file_that_is_not_gguf_is_a_load_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"this is not a model" * 10)
    settings = ProviderSettings(kind="local", options={"models": {"b": str(bogus)}})
    p = create_provider("local", settings)
    with pytest.raises(LocalModelLoadError) as err:
        await p.complete(_ask("hi", model="b"), timeouts=TIMEOUTS)
    assert "not a GGUF file" in str(err.value) and err.value.target == "local/b"


def test_bad_options_are_all_reported() -> None:
    settings = ProviderSettings(kind="local", options={"n_ctx": "big", "n_threads": 0, "gpu": 1,
                                                               "models_dir": ["/a", "/b"], "max_tokens": 0,
                                                               "stop_repetition": "yes"})
    with pytest.raises(ConfigError) as err:
        create_provider("mine", settings)
    wheres = [p.where for p in err.value.problems]
    assert wheres == ["providers.mine.options.gpu", "providers.mine.options.n_ctx",
                      "providers.mine.options.n_threads", "providers.mine.options.models_dir",
                      "providers.mine.options.max_tokens", "providers.mine.options.stop_repetition"]


def test_local_requests_get_an_output_cap_by_default() -> None:
    assert _Options.parse("local", {}).max_tokens == DEFAULT_MAX_TOKENS == 512
    assert _Options.parse("local", {"max_tokens": 64, "stop_repetition": False}).max_tokens == 64


def _guard_stops_at(tokens: list[int]) -> int | None:
    guard = RepetitionGuard()
    for i, token in enumerate(tokens):
        if guard.add(token):
            return i
    return None


@pytest.mark.parametrize("period", [1, 2, 7, 31, 64])
def test_a_repeated_block_is_spotted_after_enough_copies(period: int) -> None:
    preamble = list(range(1000, 1040))
    block = list(range(period))
    at = _guard_stops_at(preamble + block * 200)
    needed = max(4 * period, REPEAT_MIN_TOKENS)  # four copies, and at least 128 repeating tokens
    assert at == len(preamble) + needed - 1


@pytest.mark.parametrize("tokens", [list(range(5000)),  # counting: never the same block twice
                                    [i % 65 + (i // 65) * 1000 for i in range(3000)],  # varying blocks
                                    list(range(100)) * 3,  # a block of 100 tokens (longer than 64) repeated
                                    [7] * 127 + [8]],  # 127 identical tokens: just under the minimum
                         ids=["counting", "varying", "long-block", "just-under"])
def test_text_that_does_not_loop_is_left_alone(tokens: list[int]) -> None:
    assert _guard_stops_at(tokens) is None


# --- SmolLM2 ----------------------------------------------------------------------------------


@pytest.mark.local_model
@needs_smol
async def test_complete_generates_text_with_real_usage(provider: LocalProvider) -> None:
    resp = await provider.complete(_ask("Name three colours."), timeouts=TIMEOUTS)
    assert resp.text.strip()
    assert resp.usage.input_tokens > 5  # the chat template adds a system prompt
    assert 0 < resp.usage.output_tokens <= 24
    assert resp.finish_reason in ("stop", "length")
    assert resp.model == SMOL


@pytest.mark.local_model
@needs_smol
async def test_stream_joins_to_the_same_text_and_usage(provider: LocalProvider) -> None:
    request = _ask("Write one sentence about the sea.")
    whole = await provider.complete(request, timeouts=TIMEOUTS)
    chunks = [c async for c in provider.stream(request, timeouts=TIMEOUTS)]
    assert len(chunks) > 2
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage == whole.usage and chunks[-1].finish_reason == whole.finish_reason
    assert all(c.usage is None for c in chunks[:-1])


@pytest.mark.local_model
@needs_smol
async def test_max_tokens_is_respected(provider: LocalProvider) -> None:
    resp = await provider.complete(_ask("Tell me a long story about a dragon.", max_tokens=5),
                                   timeouts=TIMEOUTS)
    assert resp.usage.output_tokens == 5
    assert resp.finish_reason == "length"


@pytest.mark.local_model
@needs_smol
async def test_the_provider_cap_applies_when_the_request_sets_none() -> None:
    capped = create_provider("local", ProviderSettings(kind="local", options={"n_threads": 1, "max_tokens": 6}))
    resp = await capped.complete(_ask("Tell me a long story about a dragon.", max_tokens=None), timeouts=TIMEOUTS)
    assert resp.usage.output_tokens == 6 and resp.finish_reason == "length"
    own = await capped.complete(_ask("Tell me a long story about a dragon.", max_tokens=9), timeouts=TIMEOUTS)
    assert own.usage.output_tokens == 9  # the request's own cap wins


@pytest.mark.local_model
@needs_smol
async def test_a_generation_repeating_itself_is_stopped() -> None:
    request = _ask("Print a row of 200 dashes.", max_tokens=160)  # SmolLM2 loops on 'Dash: 1234567890'
    guarded = create_provider("local", ProviderSettings(kind="local", options={"n_threads": 1}))
    looping = await guarded.complete(request, timeouts=TIMEOUTS)
    assert looping.finish_reason == "repetition" and looping.usage.output_tokens < 160
    unguarded = create_provider("local", ProviderSettings(kind="local", options={"n_threads": 1,
                                                                                 "stop_repetition": False}))
    free = await unguarded.complete(request, timeouts=TIMEOUTS)
    assert free.finish_reason == "length" and free.usage.output_tokens == 160
    # the same greedy text, cut where it started repeating (so strictly shorter, and not empty)
    assert looping.text and len(looping.text) < len(free.text) and free.text.startswith(looping.text)


@pytest.mark.local_model
@needs_smol
async def test_seed_makes_sampling_repeatable(provider: LocalProvider) -> None:
    async def sample(seed: int) -> str:
        request = _ask("Invent a name for a cat.", temperature=1.2, seed=seed, max_tokens=10)
        return (await provider.complete(request, timeouts=TIMEOUTS)).text

    first = await sample(1)
    assert await sample(1) == first
    others = {await sample(s) for s in (2, 3, 4)}
    assert others != {first}  # the seed really drives sampling


@pytest.mark.local_model
@needs_smol
async def test_stop_sequence_cuts_the_answer(provider: LocalProvider) -> None:
    request = _ask("Count from 1 to 20, separated by commas.", max_tokens=30)
    free = await provider.complete(request, timeouts=TIMEOUTS)
    stop = free.text[len(free.text) // 2:][:3]  # a piece of what the model really says
    assert stop.strip(), free.text
    request.stop = [stop]
    cut = await provider.complete(request, timeouts=TIMEOUTS)
    assert cut.text == free.text[:free.text.index(stop)]
    assert cut.finish_reason == "stop"


@pytest.mark.local_model
@needs_smol
async def test_json_object_mode_returns_parseable_json(provider: LocalProvider) -> None:
    resp = await provider.complete(
        _ask("Give a JSON object with keys name and age for Bob, 30.", max_tokens=60,
             response_format={"type": "json_object"}), timeouts=TIMEOUTS)
    assert isinstance(json.loads(resp.text), dict)


@pytest.mark.local_model
@needs_smol
async def test_json_schema_mode_follows_the_schema(provider: LocalProvider) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"},
                                               "age": {"type": "integer"}},
              "required": ["name", "age"]}
    resp = await provider.complete(
        _ask("Bob is 30 years old. Give his name and age.", max_tokens=40,
             response_format={"type": "json_schema",
                              "json_schema": {"name": "p", "schema": schema}}),
        timeouts=TIMEOUTS)
    data = json.loads(resp.text)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


@pytest.mark.local_model
@needs_smol
async def test_bad_response_format_is_a_bad_request(provider: LocalProvider) -> None:
    with pytest.raises(BadRequestError, match="response_format"):
        await provider.complete(_ask("hi", response_format={"type": "yaml"}), timeouts=TIMEOUTS)


@pytest.mark.local_model
@needs_smol
async def test_logprobs_are_the_models_own(provider: LocalProvider) -> None:
    resp = await provider.complete(_ask("Say hello.", max_tokens=8, logprobs=True, top_logprobs=3),
                                   timeouts=TIMEOUTS)
    assert resp.logprobs is not None and len(resp.logprobs) == resp.usage.output_tokens
    assert "".join(lp.token for lp in resp.logprobs) == resp.text
    for lp in resp.logprobs:
        assert lp.logprob <= 0 and len(lp.top) == 3
        assert [t[1] for t in lp.top] == sorted((t[1] for t in lp.top), reverse=True)
        # temperature 0 is greedy: the chosen token is the most likely one
        assert lp.logprob == pytest.approx(lp.top[0][1])


@pytest.mark.local_model
@needs_smol
async def test_context_overflow_is_a_bad_request() -> None:
    small = create_provider("local", ProviderSettings(kind="local",
                                                      options={"n_ctx": 256, "n_threads": 1}))
    with pytest.raises(BadRequestError, match="context window is 256"):
        await small.complete(_ask("word " * 300), timeouts=TIMEOUTS)


@pytest.mark.local_model
@needs_smol
async def test_concurrent_requests_queue_and_give_the_sequential_answers(
        provider: LocalProvider) -> None:
    prompts = ["Name a fruit.", "Name a city."]
    alone = [(await provider.complete(_ask(p, max_tokens=8), timeouts=TIMEOUTS)).text
             for p in prompts]
    together = await asyncio.gather(*(provider.complete(_ask(p, max_tokens=8), timeouts=TIMEOUTS)
                                      for p in prompts))
    assert [r.text for r in together] == alone


@pytest.mark.local_model
@needs_smol
async def test_closing_a_stream_stops_the_generation(provider: LocalProvider) -> None:
    request = _ask("Count from 1 to 500, separated by commas.", max_tokens=120)
    before = await provider.model_stats(SMOL)
    stream = provider.stream(request, timeouts=TIMEOUTS)
    received = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    after = await provider.model_stats(SMOL)  # waits until the worker is idle again
    assert all(c.text for c in received)
    assert after.generations == before.generations + 1
    assert after.tokens_generated - before.tokens_generated < 120


@pytest.mark.local_model
@needs_smol
async def test_cancelling_a_call_stops_the_generation(provider: LocalProvider) -> None:
    request = _ask("Count from 1 to 500, separated by commas.", max_tokens=120)
    before = await provider.model_stats(SMOL)
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(request, timeouts=TIMEOUTS):
            first_chunk.set()

    task = asyncio.create_task(consume())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    after = await provider.model_stats(SMOL)
    assert after.generations == before.generations + 1
    assert after.tokens_generated - before.tokens_generated < 120


@pytest.mark.local_model
@needs_smol
async def test_no_output_before_the_deadline_is_a_timeout(provider: LocalProvider) -> None:
    # a deadline that has passed before the worker can answer: the attempt times out and the
    # generation is abandoned (never started, or stopped at its first token)
    before = await provider.model_stats(SMOL)
    with pytest.raises(APITimeoutError) as err:
        await provider.complete(_ask("Count to 100.", max_tokens=100),
                                timeouts=Timeouts(total=1e-9))
    assert err.value.retryable and err.value.target == f"local/{SMOL}"
    after = await provider.model_stats(SMOL)
    assert after.tokens_generated - before.tokens_generated < 100


# --- Qwen2.5-Coder-1.5B -----------------------------------------------------------------------


@pytest.mark.local_model
@needs_qwen
async def test_qwen_answers_a_simple_question(provider: LocalProvider) -> None:
    resp = await provider.complete(
        _ask("What is 2 + 2? Answer with the number only.", model=QWEN, max_tokens=6),
        timeouts=TIMEOUTS)
    assert "4" in resp.text
    assert resp.usage.output_tokens <= 6


_LOAD_TWICE = """
import sys, threading
from pathlib import Path
from tierflow.local_models import model_path
from tierflow.providers._local_worker import _LoadedModel
for _ in range(3):
    models = [_LoadedModel(model_path(name), 512, 1) for name in sys.argv[1:]]
    threads = [threading.Thread(target=m._load, args=("local/" + m.path.name,)) for m in models]
    [t.start() for t in threads]
    [t.join() for t in threads]
print("stdout still here", flush=True)
print("stderr still here", file=sys.stderr, flush=True)
"""


@needs_smol
@needs_qwen
def test_two_models_loading_at_once_leave_stdout_and_stderr_alone() -> None:
    """llama-cpp-python silences a load by pointing fds 1 and 2 at /dev/null and back; two loads
    at once used to leave them there, so everything the process printed afterwards was lost."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _LOAD_TWICE, SMOL, QWEN], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stdout still here" in done.stdout and "stderr still here" in done.stderr
    assert "control-looking token" not in done.stderr  # what a load says when it is not silenced


@pytest.mark.parametrize(("cores", "cpus", "load", "threads"), [
    (2, 2, 0.0, 2),     # an idle machine: every core
    (2, 2, 1.0, 2),     # this process itself keeps one core busy: still every core
    (2, 2, 2.0, 1),     # another process holds a core: one thread
    (2, 2, 15.0, 1),    # a machine shared by many: one thread (0.24 -> 2.9 tok/s measured), never zero
    (16, 16, 4.0, 13),
    (2, 64, 30.0, 2),   # a 2-CPU container on a 64-CPU host at load 30: its share is under one
])
def test_default_threads_leave_the_cores_others_keep_busy(cores: int, cpus: int, load: float,
                                                          threads: int) -> None:
    from tierflow.providers.local import _threads_for

    assert _threads_for(cores, cpus, load) == threads


def test_default_threads_are_decided_once_per_process() -> None:
    from tierflow.providers.local import _default_threads

    first = _default_threads()
    assert 1 <= first <= (os.cpu_count() or 1) and _default_threads() == first
