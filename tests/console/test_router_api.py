"""``GET /ui/api/routers`` against an in-process gateway serving a routed role (no browser)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tierflow.console import console_mount
from tierflow.gateway import Gateway, GatewayServer
from tierflow.gateway.settings import load_gateway_config
from tierflow.routing.router_curve import load_router_curve

from .conftest import ADMIN_KEY, ROUTED_YAML, add_requests, write_router


@pytest.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[GatewayServer, Path]]:
    (tmp_path / "gateway.yaml").write_text(ROUTED_YAML, encoding="utf-8")
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    router = write_router(tmp_path)
    monkeypatch.chdir(tmp_path)
    project, settings = load_gateway_config(tmp_path / "gateway.yaml")
    gateway = Gateway(project, settings, admin_key=ADMIN_KEY)
    gateway.check()  # as `tierflow serve` does: the router file loads
    srv = GatewayServer(gateway, port=0, mounts=[console_mount()])
    await srv.start()
    yield srv, router
    await srv.close()


async def _routers(srv: GatewayServer) -> tuple[int, dict]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await http.post(srv.base_url + "/ui/login", data={"secret": ADMIN_KEY}, allow_redirects=False)
        r = await http.get(srv.base_url + "/ui/api/routers")
        return r.status, await r.json()


async def test_the_routers_api_serves_the_curve_and_the_live_figures(served: tuple[GatewayServer, Path]) -> None:
    srv, router = served
    now = time.time()
    rows = [{"request_id": f"a{i}", "ts": now - 3600 * i, "role": "auto", "model": "t/fast-model",
             "decision": json.dumps({"chosen": "fast" if i % 4 else "primary"}), "cost_usd": 0.001 if i % 4 else 0.02}
            for i in range(12)]
    rows += [{"request_id": "old", "ts": now - 8 * 86400, "role": "auto", "cost_usd": 5.0,
              "decision": json.dumps({"chosen": "primary"})},  # before the window
             {"request_id": "unpriced", "ts": now - 60, "role": "auto", "decision": json.dumps({"chosen": "fast"})},
             {"request_id": "other", "ts": now - 60, "role": "fast", "cost_usd": 1.0}]
    add_requests(Path("gateway.sqlite"), rows)
    status, body = await _routers(srv)
    assert status == 200
    (auto,) = body["data"]
    assert auto["role"] == "auto" and auto["error"] is None and auto["candidates"] == ["fast", "primary"]
    assert auto["curve"] == json.loads(json.dumps(load_router_curve(router).to_json() | {
        "roles": {"cheap": "fast", "strong": "primary"}}))
    live = auto["live"]
    assert live["requests"] == 13 and live["priced_requests"] == 12
    assert live["mean_cost_usd"] == pytest.approx((9 * 0.001 + 3 * 0.02) / 12)
    assert live["chosen"] == [{"role": "fast", "calls": 10}, {"role": "primary", "calls": 3}]


async def test_the_curve_shows_the_target_of_the_config_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``target:`` in the routed role's entry re-targets the knob: the API shows it, and the file's own."""
    (tmp_path / "gateway.yaml").write_text(ROUTED_YAML.replace("models: {cheap: fast, strong: primary}}",
                                                               "models: {cheap: fast, strong: primary}, "
                                                               "target: {strong_share: 0.25}}"), encoding="utf-8")
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    router = write_router(tmp_path)
    monkeypatch.chdir(tmp_path)
    project, settings = load_gateway_config(tmp_path / "gateway.yaml")
    async with GatewayServer(Gateway(project, settings, admin_key=ADMIN_KEY), port=0, mounts=[console_mount()]) as srv:
        status, body = await _routers(srv)
    assert status == 200
    curve = body["data"][0]["curve"]
    fitted = load_router_curve(router)
    assert curve["target"] == {"strong_share": 0.25} and curve["fitted_target"] == fitted.target != curve["target"]
    assert curve["retargeted"] is True
    assert curve["current"]["strong_share"] == pytest.approx(0.25)  # the knob (and mix) at the entry's target


async def test_a_damaged_router_file_is_an_error_naming_it(served: tuple[GatewayServer, Path]) -> None:
    srv, router = served
    router.write_text(router.read_text(encoding="utf-8")[:100], encoding="utf-8")  # cut short after the start
    status, body = await _routers(srv)
    assert status == 200
    (auto,) = body["data"]
    assert auto["curve"] is None
    assert str(router.resolve()) in auto["error"] or str(router) in auto["error"]
    assert "not a JSON router file" in auto["error"]
    router.unlink()
    status, body = await _routers(srv)
    assert "no such router file" in body["data"][0]["error"] and "auto.json" in body["data"][0]["error"]


async def test_a_stored_curve_with_a_null_is_an_error_for_that_role_in_valid_json(served: tuple[GatewayServer, Path]) -> None:
    srv, router = served
    doc = json.loads(router.read_text(encoding="utf-8"))
    doc["calibration"]["curve"]["quality"][0] = None
    router.write_text(json.dumps(doc), encoding="utf-8")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await http.post(srv.base_url + "/ui/login", data={"secret": ADMIN_KEY}, allow_redirects=False)
        r = await http.get(srv.base_url + "/ui/api/routers")
        assert r.status == 200
        text = await r.text()

    def strict(constant: str) -> None:  # what a browser's JSON.parse accepts: no NaN or Infinity
        raise ValueError(f"not JSON: {constant}")

    (auto,) = json.loads(text, parse_constant=strict)["data"]
    assert auto["curve"] is None and "router.calibration.curve: quality must be numbers" in auto["error"]
    assert "auto.json" in auto["error"]


async def test_requests_to_the_routed_role_show_in_its_live_figures(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import openai

    from tierflow.testing import LLMTestServer

    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    write_router(tmp_path)
    async with LLMTestServer() as upstream:
        (tmp_path / "gateway.yaml").write_text(ROUTED_YAML.replace("http://127.0.0.1:9/v1", upstream.base_url + "/v1"),
                                               encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        project, settings = load_gateway_config(tmp_path / "gateway.yaml")
        gateway = Gateway(project, settings, admin_key=ADMIN_KEY)
        gateway.check()
        async with GatewayServer(gateway, port=0, mounts=[console_mount()]) as srv:
            client = openai.AsyncOpenAI(base_url=srv.base_url + "/v1", api_key=ADMIN_KEY, max_retries=0)
            for content in ("What is 40 plus 7?", "Write a sonnet about the harbour, in the style of poet 12.", "What is 2 plus 9?"):
                await client.chat.completions.create(model="auto", messages=[{"role": "user", "content": content}])
            await client.close()
            live: dict = {}
            for _ in range(100):  # the ledger commits in groups, every commit_interval_s
                live = (await _routers(srv))[1]["data"][0]["live"]
                if live["requests"] == 3:
                    break
                await asyncio.sleep(0.1)
    assert live["requests"] == 3
    assert live["chosen"] == [{"role": "fast", "calls": 2}, {"role": "primary", "calls": 1}]
