"""The call layer against a real HTTP test server: retries, fallbacks, cooldown, deadline, cost."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable

import pytest

from tierflow.calls import Client
from tierflow.calls.plan import Planner
from tierflow.errors import (
    AllTargetsFailedError,
    ConfigError,
    DeadlineExceededError,
    PriceUnknownError,
    UnknownRoleError,
)
from tierflow.testing import Answer, Garbage, Hang, LLMTestServer, Status

from .conftest import SECRET, ManualClock


def _outcomes(result_or_error: object) -> list[tuple[str, str, str | None]]:
    return [(a.target, a.outcome, a.error) for a in result_or_error.attempts]  # type: ignore[attr-defined]


async def test_answer_with_usage_cost_and_attempts(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Answer("hello world", input_tokens=100, output_tokens=50, cached_tokens=20)])
    result = await client.acall("primary", "Say hello")
    assert result.text == "hello world"
    assert (result.model_used, result.provider, result.role) == ("srv/a", "srv", "primary")
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cached_tokens) == (100, 50, 20)
    assert result.cost_usd == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6)
    assert _outcomes(result) == [("srv/a", "ok", None)]
    assert result.latency_s > 0 and result.latency_ms == result.latency_s * 1000
    assert llm_server.requests[-1]["messages"] == [{"role": "user", "content": "Say hello"}]
    assert result.finish_reason == "stop" and result.logprobs is None


async def test_logprobs_and_finish_reason_reach_the_result(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Answer("a b", finish_reason="length")])
    result = await client.acall("primary", "x", logprobs=True, top_logprobs=2)
    assert result.finish_reason == "length"
    assert result.logprobs and [lp.token for lp in result.logprobs] and len(result.logprobs[0].top) == 2


async def test_rate_limit_retried_after_retry_after(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Status(429, retry_after=0.05), Answer("ok")])
    result = await client.acall("primary", "x")
    assert result.text == "ok" and llm_server.count("a") == 2 and llm_server.count("b") == 0
    assert _outcomes(result) == [("srv/a", "error", "RateLimitError"), ("srv/a", "ok", None)]
    assert result.attempts[0].status_code == 429
    assert result.attempts[1].wait_s == pytest.approx(0.05)


async def test_retry_after_ms_honoured(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Status(503, retry_after_ms=30), Answer("ok")])
    result = await client.acall("primary", "x")
    assert result.attempts[1].wait_s == pytest.approx(0.03)


async def test_retry_after_beyond_cap_falls_back_without_waiting(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Status(429, retry_after=3600)])
    result = await client.acall("primary", "x")
    assert result.model_used == "srv/b" and llm_server.count("a") == 1
    assert [a.wait_s for a in result.attempts] == [0.0, 0.0]


async def test_server_errors_retried_then_fallback(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(500))
    result = await client.acall("primary", "x")
    assert result.model_used == "srv/b"
    assert llm_server.count("a") == 3  # 1 + max_retries
    assert _outcomes(result) == [("srv/a", "error", "ServerError")] * 3 + [("srv/b", "ok", None)]
    assert all(a.wait_s > 0 for a in result.attempts[1:3])


@pytest.mark.parametrize("code,error", [(400, "BadRequestError"), (401, "AuthenticationError"),
                                        (403, "PermissionDeniedError"), (404, "NotFoundError"),
                                        (422, "UnprocessableEntityError")])
async def test_client_errors_fall_back_without_retry(client: Client, llm_server: LLMTestServer, code: int,
                                                     error: str) -> None:
    llm_server.script("a", [Status(code)])
    result = await client.acall("primary", "x")
    assert llm_server.count("a") == 1 and result.model_used == "srv/b"
    assert _outcomes(result) == [("srv/a", "error", error), ("srv/b", "ok", None)]


@pytest.mark.parametrize("code", [408, 409, 502])
async def test_transient_statuses_retried(client: Client, llm_server: LLMTestServer, code: int) -> None:
    llm_server.script("a", [Status(code), Answer("ok")])
    result = await client.acall("primary", "x")
    assert result.model_used == "srv/a" and llm_server.count("a") == 2


async def test_garbage_answer_retried(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.script("a", [Garbage("<html>oops"), Answer("fine")])
    result = await client.acall("primary", "x")
    assert result.text == "fine" and _outcomes(result)[0] == ("srv/a", "error", "ResponseFormatError")


async def test_attempt_timeout_retried_then_fallback(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(total=0.2, max_retries=1)
    llm_server.set_default("a", Hang(5))
    result = await client.acall("primary", "x")
    assert result.model_used == "srv/b"
    assert _outcomes(result)[:2] == [("srv/a", "error", "APITimeoutError")] * 2


async def test_unreachable_provider_falls_back(client: Client, llm_server: LLMTestServer) -> None:
    result = await client.acall("dead/m", "x", fallback=["srv/b"])
    assert result.model_used == "srv/b"
    assert {a.error for a in result.attempts[:-1]} == {"APIConnectionError"}


async def test_all_targets_failed_lists_attempts(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(500))
    llm_server.set_default("b", Status(400))
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("primary", "x")
    err = info.value
    assert err.role == "primary" and len(err.attempts) == 4
    assert "srv/a" in str(err) and "srv/b" in str(err) and "BadRequestError" in str(err)


async def test_cooldown_skips_dead_target_then_probes(make_client: Callable[..., Client],
                                                      llm_server: LLMTestServer, clock: ManualClock) -> None:
    client = make_client(seconds=30, clock=clock)
    llm_server.set_default("a", Status(500))
    first = await client.acall("primary", "x")
    assert llm_server.count("a") == 3 and first.model_used == "srv/b"
    for _ in range(5):
        later = await client.acall("primary", "x")
        assert _outcomes(later) == [("srv/a", "skipped_cooldown", None), ("srv/b", "ok", None)]
        assert sum(a.wait_s for a in later.attempts) == 0.0
    assert llm_server.count("a") == 3 and llm_server.count("b") == 6
    clock.now += 29.9
    assert (await client.acall("primary", "x")).attempts[0].outcome == "skipped_cooldown"
    clock.now += 0.1  # cooldown over: exactly one probe, which fails and reopens the breaker
    probe = await client.acall("primary", "x")
    assert llm_server.count("a") == 4 and probe.attempts[0].outcome == "error"
    again = await client.acall("primary", "x")
    assert again.attempts[0].outcome == "skipped_cooldown" and llm_server.count("a") == 4


async def test_half_open_allows_a_single_probe(make_client: Callable[..., Client], llm_server: LLMTestServer,
                                              clock: ManualClock) -> None:
    client = make_client(seconds=30, failures=1, max_retries=0, clock=clock)
    llm_server.script("a", [Status(500), Hang(0.2)])
    await client.acall("primary", "x")
    clock.now += 30
    results = await asyncio.gather(*(client.acall("primary", "x") for _ in range(5)))
    assert llm_server.count("a") == 2  # the failure, then one probe among five concurrent calls
    assert sorted(r.model_used for r in results) == ["srv/a"] + ["srv/b"] * 4
    assert (await client.acall("primary", "x")).model_used == "srv/a"  # the probe closed the breaker


async def test_single_target_role_fails_fast_while_cooling(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(503))
    with pytest.raises(AllTargetsFailedError):
        await client.acall("solo", "x")
    assert llm_server.count("a") == 3
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("solo", "x")
    assert _outcomes(info.value) == [("srv/a", "skipped_cooldown", None)] and llm_server.count("a") == 3


async def test_request_specific_errors_do_not_trip_breaker(make_client: Callable[..., Client],
                                                           llm_server: LLMTestServer) -> None:
    client = make_client(failures=1)
    llm_server.script("a", [Status(400), Answer("ok")])
    await client.acall("primary", "x")
    assert (await client.acall("primary", "x")).model_used == "srv/a"


async def test_deadline_exceeded(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Hang(5))
    with pytest.raises(DeadlineExceededError) as info:
        await client.acall("primary", "x", deadline_s=0.2)
    assert isinstance(info.value, TimeoutError)
    assert [a.target for a in info.value.attempts] == ["srv/a"]  # type: ignore[attr-defined]
    assert llm_server.count("b") == 0


async def test_deadline_from_config(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    client = make_client(extra="")
    client.default_deadline_s = 0.2
    llm_server.set_default("a", Hang(5))
    with pytest.raises(DeadlineExceededError):
        await client.acall("solo", "x")


async def test_cancellation_cancels_upstream_request(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Hang(10))
    task = asyncio.create_task(client.acall("primary", "x"))
    while llm_server.count("a") == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await llm_server.wait_for_disconnect("a", timeout=5)
    assert llm_server.count("b") == 0


async def test_call_time_fallback_roles_and_targets(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(404))
    r1 = await client.acall("solo", "x", fallback=["srv/z"])
    assert r1.model_used == "srv/z"
    r2 = await client.acall("solo", "x", fallback=["llm:fast"])
    assert r2.model_used == "srv/c"
    r3 = await client.acall("primary", "x", fallback=["solo", "srv/b", "srv/q"])
    assert [a.target for a in r3.attempts] == ["srv/a", "srv/b"]  # duplicates of the chain are not re-tried


async def test_role_temperature_and_system_context(client: Client, llm_server: LLMTestServer) -> None:
    await client.acall("fast", "hi")
    body = llm_server.requests[-1]
    assert body["temperature"] == 0.2
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    own = [{"role": "system", "content": "Mine."}, {"role": "user", "content": "hi"}]
    await client.acall("fast", own, temperature=1.5, max_tokens=7, stop="END")
    body = llm_server.requests[-1]
    assert body["temperature"] == 1.5 and body["stop"] == ["END"] and body["max_tokens"] == 7
    # the role's system context goes first, joined with the prompt's own system message (both apply)
    assert body["messages"] == [{"role": "system", "content": "Be brief.\n\nMine."}, {"role": "user", "content": "hi"}]
    assert own[0] == {"role": "system", "content": "Mine."}  # the caller's list is not changed


async def test_provider_model_string_needs_no_role(client: Client, llm_server: LLMTestServer) -> None:
    result = await client.acall("srv/some-model", "x")
    assert result.model_used == "srv/some-model" and result.role is None


async def test_unknown_role_and_provider(client: Client, llm_server: LLMTestServer) -> None:
    with pytest.raises(UnknownRoleError, match="'fastt'"):
        await client.acall("fastt", "x")
    with pytest.raises(ConfigError, match="provider 'nowhere' is not declared"):
        await client.acall("nowhere/m", "x")
    assert llm_server.count() == 0


async def test_unknown_price_gives_none_and_strict_refuses(make_client: Callable[..., Client],
                                                           llm_server: LLMTestServer) -> None:
    lenient = make_client(priced=False, extra="  - {role: odd, ref: srv, model: no-such-model-xyz}")
    result = await lenient.acall("odd", "x")
    assert result.text and result.cost_usd is None
    strict = make_client(priced=False, strict=True)
    with pytest.raises(PriceUnknownError, match="srv/a"):
        await strict.acall("primary", "x")
    assert llm_server.count("a") == 0


def test_sync_twin_reuses_its_loop() -> None:
    llm_server = LLMTestServer.start_in_thread()
    try:
        from tierflow.config import parse_config

        from .conftest import config_text
        client = Client(parse_config(config_text(llm_server.base_url)))
        assert client.call("primary", "one two").text == "echo: one two"
        assert client.call("primary", "three").model_used == "srv/a"
        loop = client._portal.loop if client._portal else None
        assert loop is not None and list(client._by_loop) == [loop]  # both calls ran on one loop
        sessions = [s for p in client._by_loop[loop].values() for s in p._sessions.values()]
        client.close()
        assert loop.is_closed() and client._by_loop == {}  # the providers opened there were closed
        assert sessions and all(s.closed for s in sessions)
    finally:
        llm_server.stop()


async def test_sync_twin_refuses_inside_a_loop(client: Client) -> None:
    with pytest.raises(RuntimeError, match="acall"):
        client.call("primary", "x")


async def test_routed_role_uses_the_router_decision(make_client: Callable[..., Client],
                                                    llm_server: LLMTestServer) -> None:
    client = make_client(extra="  - {role: auto, router: r.json, candidates: [fast, primary]}")

    class Chooser:
        def choose(self, messages: object) -> dict[str, object]:
            return {"chosen_role": "fast", "predicted_quality": 0.9, "predicted_cost": 1e-6, "runner_up": "primary"}

    client.planner = Planner(client.config, client.prices, lambda entry: Chooser())
    result = await client.acall("auto", "hi")
    assert result.model_used == "srv/c" and result.role == "auto"
    assert result.decision is not None and result.decision["chosen_role"] == "fast"


async def test_routed_role_without_routing_module_is_a_config_error(make_client: Callable[..., Client]) -> None:
    client = make_client(extra="  - {role: auto, router: r.json, candidates: [fast, primary]}")
    client.planner = Planner(client.config, client.prices, None)
    with pytest.raises(ConfigError, match="routed role"):
        await client.acall("auto", "hi")


async def test_secret_never_in_errors_or_tracebacks(client: Client, llm_server: LLMTestServer) -> None:
    llm_server.set_default("a", Status(401, message=f"Incorrect API key provided: {SECRET}"))
    with pytest.raises(AllTargetsFailedError) as info:
        await client.acall("solo", "x")
    text = "".join(traceback.format_exception(info.value)) + repr(info.value) + repr(info.value.last_error)
    assert "AuthenticationError" in text
    assert SECRET not in text and SECRET[-8:] not in text


async def test_routed_role_goes_through_routing_live(make_client: Callable[..., Client], llm_server: LLMTestServer) -> None:
    pytest.importorskip("tierflow.routing.live")
    client = make_client(extra="  - {role: auto, router: missing-router.json, candidates: [fast, nope]}")
    with pytest.raises(ConfigError, match="'nope' is not a declared role"):
        await client.acall("auto", "hi")
    assert llm_server.count() == 0


async def test_one_time_set_up_is_reported_apart_from_latency(make_client: Callable[..., Client],
                                                              llm_server: LLMTestServer) -> None:
    # no configured price: building the plan looks the model up in genai-prices (one time), and
    # the first call also creates the provider
    client = make_client(priced=False)
    t0 = time.perf_counter()
    first = await client.acall("primary", "x")
    wall = time.perf_counter() - t0
    second = await client.acall("primary", "x")
    assert first.setup_s > 0 and first.latency_s + first.setup_s <= wall
    assert second.setup_s == 0.0
    streamed = await client.astream("fast", "y").collect()  # a new plan, an existing provider
    assert streamed.setup_s > 0 and streamed.ttft_s is not None and streamed.ttft_s <= streamed.latency_s
    assert first.to_dict()["setup_s"] == first.setup_s
