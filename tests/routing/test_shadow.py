"""The closed loop through the gateway: explore, log feedback, shadow a candidate off-policy, promote
it only when it meets the target, reload it live, roll back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from typer.testing import CliRunner

from tierflow.cli import app
from tierflow.config import parse_config
from tierflow.errors import ConfigError
from tierflow.gateway import Gateway, GatewayServer, GatewaySettings
from tierflow.testing import LLMTestServer

pytestmark = pytest.mark.slow
runner = CliRunner()


def _fit(tmp_path: Path, name: str, target: float) -> Path:
    """A kNN router (hashing embedder): the cheap model answers arithmetic and fails at poems."""
    rows = []
    for i in range(24):
        math, poem = f"What is {i + 3} plus {2 * i + 1}?", f"Write a poem about the sea number {i}."
        for pid, prompt, cheap in ((f"m{i}", math, 1.0), (f"p{i}", poem, 0.0)):
            rows.append({"prompt_id": pid, "prompt": prompt, "model": "cheap", "score": cheap, "cost": 0.0001})
            rows.append({"prompt_id": pid, "prompt": prompt, "model": "strong", "score": 1.0, "cost": 0.01})
    table = tmp_path / "outcomes.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / f"{name}.json"
    fit = subprocess.run([sys.executable, "-m", "tierflow.cli", "route", "fit", str(table), "-o", str(out),
                          "--kind", "knn", "--embedder", "hashing", "--split", "all", "--target-quality",
                          str(target)], capture_output=True, text=True, timeout=300)
    assert fit.returncode == 0, fit.stderr
    return out


def _config_text(base: str, router: Path, explore: float = 0.3) -> str:
    return f"""
providers:
  t: {{kind: openai, base_url: "{base}/v1", api_key: k}}
models:
  - {{role: primary, ref: t, model: big-model}}
  - {{role: fast, ref: t, model: small-model}}
  - {{role: auto, router: "{router}", candidates: [fast, primary], models: {{cheap: fast, strong: primary}},
     explore: {explore}}}
prices:
  t/big-model: {{input_per_mtok: 10, output_per_mtok: 30}}
  t/small-model: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
"""


async def _traffic(srv: GatewayServer, n: int) -> None:
    """``n`` requests to the routed role, each scored by a verifier that knows the truth."""
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            poem = i % 2 == 1
            prompt = f"Write a poem about the moon number {i}." if poem else f"What is {i} plus {i + 2}?"
            async with http.post(f"{srv.base_url}/v1/chat/completions",
                                 json={"model": "auto", "messages": [{"role": "user", "content": prompt}]}) as r:
                assert r.status == 200
                rid, model = r.headers["x-request-id"], (await r.json())["model"]
            good = 1.0 if (not poem or model == "t/big-model") else 0.0
            async with http.post(f"{srv.base_url}/v1/feedback", json={"request_id": rid, "score": good}) as f:
                assert f.status == 200


async def _choice(srv: GatewayServer, prompt: str) -> str:
    async with aiohttp.ClientSession() as http, http.post(
            f"{srv.base_url}/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": prompt}]}) as r:
        return r.headers["x-tierflow-route-chosen"]


async def test_shadow_promote_reload_and_rollback(tmp_path: Path) -> None:
    live_file = _fit(tmp_path, "auto", 1.0)        # math -> fast, poems -> primary
    cheap_file = _fit(tmp_path, "always_cheap", 0.5)  # a cheaper candidate: fast for all
    ledger = tmp_path / "gw.sqlite"
    async with LLMTestServer() as upstream:
        config_file = tmp_path / "tierflow.yaml"
        config_file.write_text(_config_text(upstream.base_url, live_file), encoding="utf-8")
        config = parse_config(config_file.read_text(), source=str(config_file))
        gateway = Gateway(config, GatewaySettings(database=str(ledger), store_content=True))
        gateway.check()
        async with GatewayServer(gateway, port=0) as srv:
            await _traffic(srv, 400)
            await asyncio.sleep(0.5)  # the ledger's writer commits within 0.2 s
            base = ["--role", "auto", "--ledger", str(ledger), "--config", str(config_file), "--min-n", "300"]

            out = runner.invoke(app, ["route", "shadow", str(cheap_file), *base, "--json"])
            assert out.exit_code == 0, out.output
            report = json.loads(out.stdout)
            assert report["live"]["n"] == 400 and report["live"]["quality_ci"][0] > 0.9
            assert 0.35 < report["candidate"]["quality"] < 0.65  # truth: 0.5 (poems fail on fast)
            assert report["candidate"]["cost"] < report["live"]["cost"] and not report["promotable"]

            fitted = tmp_path / "from_ledger.json"
            fit = runner.invoke(app, ["route", "fit", "--from-ledger", str(ledger), "--role", "auto", "--config",
                                      str(config_file), "-o", str(fitted), "--kind", "knn", "--embedder", "hashing",
                                      "--split", "all", "--target-quality", "1.0"])
            assert fit.exit_code == 0, fit.output
            out = runner.invoke(app, ["route", "shadow", str(fitted), *base, "--json"])
            learned = json.loads(out.stdout)["candidate"]
            assert learned["quality_ci"][1] > 0.9  # learned from the log alone: poems still go to primary

            refused = runner.invoke(app, ["route", "promote", str(cheap_file), *base, "--max-quality-drop", "0.1"])
            assert refused.exit_code == 1 and "not promoted" in refused.stdout
            assert json.loads(live_file.read_text()) != json.loads(cheap_file.read_text())

            few = runner.invoke(app, ["route", "shadow", str(cheap_file), *base[:-1], "5000"])
            assert few.exit_code == 0 and "too few to decide" in few.stdout
            lenient_but_few = runner.invoke(app, ["route", "promote", str(cheap_file), *base[:-1], "5000",
                                                  "--max-quality-drop", "1.0"])
            assert lenient_but_few.exit_code == 1 and "too few" in lenient_but_few.stdout
            ok = runner.invoke(app, ["route", "promote", str(cheap_file), *base, "--max-quality-drop", "0.75"])
            assert ok.exit_code == 0, ok.output
            assert "promoted" in ok.stdout and (tmp_path / "auto.previous.json").is_file()
            gateway.client.planner.plan("auto").router.explore = 0.0  # make the next choices deterministic
            for _ in range(50):  # the running gateway reloads the replaced file within a second
                if await _choice(srv, "Write a poem about rain.") == "fast":
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the gateway never reloaded the promoted router")

            back = runner.invoke(app, ["route", "rollback", "--role", "auto", "--config", str(config_file)])
            assert back.exit_code == 0 and "rolled back" in back.stdout
            for _ in range(50):
                if await _choice(srv, "Write a poem about rain.") == "primary":
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the gateway never reloaded the rolled-back router")


def test_explore_must_be_a_small_share(tmp_path: Path) -> None:
    from tierflow.calls import Client

    router = _fit(tmp_path, "auto", 1.0)
    config = parse_config(_config_text("http://127.0.0.1:9", router, explore=0.9), source="cfg")
    with pytest.raises(ConfigError, match="explore"):
        Client(config).planner.plan("auto")
