"""A console save reloads the gateway with the tracers it was given (no browser): calls stay traced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from tierflow.calls.events import CallFinished
from tierflow.console import console_mount
from tierflow.gateway import Gateway, GatewayServer
from tierflow.gateway.settings import load_gateway_config
from tierflow.testing import LLMTestServer
from tierflow.tracing import Tracer

from .conftest import ADMIN_KEY, GATEWAY_YAML


class _Finished(Tracer):
    """A real tracer keeping the role of every finished call (as ``tierflow serve``'s OTLP exporter gets them)."""

    def __init__(self) -> None:
        super().__init__()
        self.roles: list[str | None] = []

    def handle(self, event: Any, parent_id: str | None) -> None:
        if isinstance(event, CallFinished):
            self.roles.append(event.role)


async def test_a_save_that_reloads_the_gateway_keeps_its_tracers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    tracer = _Finished()
    async with LLMTestServer() as upstream:
        (tmp_path / "gateway.yaml").write_text(GATEWAY_YAML.replace("http://127.0.0.1:9/v1", upstream.base_url + "/v1"),
                                               encoding="utf-8")
        project, settings = load_gateway_config(tmp_path / "gateway.yaml")
        gateway = Gateway(project, settings, admin_key=ADMIN_KEY, tracers=[tracer])
        gateway.check()
        async with GatewayServer(gateway, port=0, mounts=[console_mount()]) as srv, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await http.post(srv.base_url + "/ui/login", data={"secret": ADMIN_KEY}, allow_redirects=False)
            csrf = (await (await http.get(srv.base_url + "/ui/api/session")).json())["csrf"]
            version = (await (await http.get(srv.base_url + "/ui/api/file", params={"path": "gateway.yaml"})).json())["version"]
            models = [{"role": "primary", "ref": "t", "model": "strong-model"}, {"role": "fast", "ref": "t", "model": "fast-model"},
                      {"role": "writer", "ref": "t", "model": "writer-model"}]  # a role the reloaded gateway serves
            r = await http.post(srv.base_url + "/ui/api/save", json={"path": "gateway.yaml", "version": version, "models": models},
                                headers={"X-CSRF-Token": csrf})
            assert r.status == 200 and (await r.json())["reloaded"] is True
            client = openai.AsyncOpenAI(base_url=srv.base_url + "/v1", api_key=ADMIN_KEY, max_retries=0)
            await client.chat.completions.create(model="writer", messages=[{"role": "user", "content": "hi"}])
            await client.close()
    assert tracer.roles == ["writer"]
    assert gateway.given_tracers == [tracer]
