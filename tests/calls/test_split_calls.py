"""Traffic splits through the call layer, against the loopback test server: the variant chosen
(sticky by ``split_key``, random without), recorded in the result and the events, and the
variant's own chain and settings applied."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from tierflow.calls import CallEvent, CallFinished, Client
from tierflow.config import parse_config
from tierflow.errors import ConfigError
from tierflow.registry import parse_registry
from tierflow.testing import LLMTestServer, Status

from .conftest import config_text

SPLIT = """
  - {role: current, ref: srv, model: cur-model}
  - {role: candidate, ref: srv, model: cand-model, temperature: 0.7, system_context: "You are the candidate.",
     fallback: [{ref: srv, model: cand-backup}]}
  - {role: chat, split: [{role: current, weight: 0.9}, {role: candidate, weight: 0.1}]}
  - {role: even, split: [{role: current, weight: 1}, {role: candidate, weight: 1}]}
"""
KEYS = [f"user-{i}" for i in range(300)]


@pytest.fixture
def split_client(make_client: Callable[..., Client]) -> Client:
    return make_client(extra=SPLIT, max_retries=0)


def _expected(keys: list[str], role: str = "chat") -> dict[str, str]:
    """What the registry's rule says each key gets (computed apart from the call layer)."""
    split = parse_registry([{"role": "current", "ref": "x", "model": "a"}, {"role": "candidate", "ref": "x",
                                                                             "model": "b"},
                            {"role": role, "split": [{"role": "current", "weight": 0.9},
                                                     {"role": "candidate", "weight": 0.1}]}]).splits[role]
    return {k: split.choose(k) for k in keys}


async def test_each_key_gets_its_variant_and_the_call_records_it(split_client: Client, llm_server: LLMTestServer) -> None:
    expected = _expected(KEYS)
    got = {}
    for key in KEYS:
        r = await split_client.acall("chat", "hello", split_key=key)
        assert r.role == "chat" and r.variant == expected[key]
        assert r.model_used == ("srv/cur-model" if r.variant == "current" else "srv/cand-model")
        got[key] = r.variant
    counts = Counter(got.values())
    assert counts == Counter(expected.values()) == {"current": 265, "candidate": 35}
    assert llm_server.count("cur-model") == 265 and llm_server.count("cand-model") == 35


async def test_a_key_sticks_to_its_variant(split_client: Client) -> None:
    for key in ("alice", "bob", 42):
        variants = {(await split_client.acall("chat", "hi", split_key=key)).variant for _ in range(15)}
        assert len(variants) == 1
    assert (await split_client.acall("chat", "hi", split_key=42)).variant == \
        (await split_client.acall("chat", "hi", split_key="42")).variant  # a number keys like its text


async def test_without_a_key_the_variant_is_drawn_per_call(split_client: Client) -> None:
    variants = Counter([(await split_client.acall("even", "hi")).variant for _ in range(60)])
    assert set(variants) == {"current", "candidate"}  # all one way: 2 ** -59


async def test_the_variants_chain_and_settings_apply(split_client: Client, llm_server: LLMTestServer) -> None:
    key = next(k for k, v in _expected(KEYS).items() if v == "candidate")
    llm_server.script("cand-model", [Status(500)])
    r = await split_client.acall("chat", "hi", split_key=key)
    assert r.variant == "candidate" and r.model_used == "srv/cand-backup"  # the candidate's own fallback
    assert [a.target for a in r.attempts] == ["srv/cand-model", "srv/cand-backup"]
    body = llm_server.requests[-1]
    assert body["temperature"] == 0.7
    assert body["messages"][0] == {"role": "system", "content": "You are the candidate."}


async def test_the_variant_is_in_the_call_finished_event(make_client: Callable[..., Client]) -> None:
    events: list[CallEvent] = []
    client = make_client(extra=SPLIT)
    client.add_observer(events.append)
    key = KEYS[0]
    r = await client.acall("chat", "hi", split_key=key)
    [finished] = [e for e in events if isinstance(e, CallFinished)]
    assert finished.role == "chat" and finished.variant == r.variant == _expected([key])[key]
    plain = await client.acall("current", "hi", split_key=key)  # other roles ignore the key
    assert plain.variant is None and [e for e in events if isinstance(e, CallFinished)][-1].variant is None


async def test_streams_split_too(make_client: Callable[..., Client]) -> None:
    client = make_client(extra=SPLIT)
    key = KEYS[1]
    async with client.astream("chat", "hi", split_key=key) as chunks:
        text = "".join([c.text async for c in chunks])
    assert text and chunks.result is not None and chunks.result.variant == _expected([key])[key]


def test_the_sync_twin_takes_a_split_key(srv_thread: LLMTestServer) -> None:
    with Client(parse_config(config_text(srv_thread.base_url, extra=SPLIT), source="t.yaml")) as client:
        r = client.call("llm:chat", "hi", split_key=KEYS[2])
    assert r.role == "chat" and r.variant == _expected([KEYS[2]])[KEYS[2]]


async def test_a_split_cannot_be_a_call_time_fallback(split_client: Client) -> None:
    with pytest.raises(ConfigError, match="a traffic split cannot be a fallback"):
        await split_client.acall("current", "hi", fallback=["chat"])


@pytest.fixture
def srv_thread() -> Iterator[LLMTestServer]:
    server = LLMTestServer.start_in_thread()
    yield server
    server.stop()


async def test_a_streamed_split_names_its_variant_before_the_first_chunk_is_read(split_client: Client) -> None:
    expected = _expected(["user-7"])["user-7"]
    stream = split_client.astream("chat", "hello", split_key="user-7")
    await stream.__anext__()
    assert stream.variant == expected and stream.decision is None
    await stream.aclose()


async def test_the_worst_case_cost_covers_every_variant(split_client: Client) -> None:
    """The bound a budget reserves: every variant's chain, at the dearest target ($1/$2 per Mtok here)."""
    prompt = "x" * 100
    worst = split_client.worst_case_cost("chat", prompt, 1000)
    # 100 bytes + 8 + 16, plus the candidate's system context (22 bytes + 8), all 1000 output tokens
    assert worst == pytest.approx(((100 + 8 + 16 + len("You are the candidate.") + 8) * 1 + 1000 * 2) / 1e6)
    assert worst == split_client.worst_case_cost("candidate", prompt, 1000)
    assert worst > split_client.worst_case_cost("current", prompt, 1000)  # type: ignore[operator]


async def test_the_worst_case_cost_is_unknown_without_a_price_unless_estimated(make_client: Callable[..., Client]
                                                                               ) -> None:
    client = make_client(priced=False)
    assert client.worst_case_cost("primary", "hi", 10) is None
    assert client.worst_case_cost("primary", "hi", 10, unknown=lambda u: u.output_tokens * 1.0) == 10.0
