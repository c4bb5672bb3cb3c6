"""Keys: the admin API, virtual keys stored hashed, when a key is required, and who owns a request."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from tierflow.gateway import GatewaySettings, Mount

ADMIN = "admin-secret-for-tests-0123456789"
MSG = [{"role": "user", "content": "hi"}]


async def _call(http: aiohttp.ClientSession, method: str, url: str, key: str | None = None,
                body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_the_admin_api_creates_lists_and_revokes_keys_stored_hashed(gateway_factory, sdk_factory,
                                                                          tmp_path: Path) -> None:
    db = tmp_path / "keys.sqlite"
    srv = await gateway_factory(GatewaySettings(database=str(db)), admin_key=ADMIN)
    base = srv.base_url
    async with aiohttp.ClientSession() as http:
        status, created = await _call(http, "POST", base + "/admin/keys", ADMIN,
                                      {"name": "team-a", "roles": ["fast"], "rpm": 100, "usd_per_day": 5})
        assert status == 201 and created["key"].startswith("tf-") and created["roles"] == ["fast"]
        secret = created["key"]
        status, listed = await _call(http, "GET", base + "/admin/keys", ADMIN)
        assert status == 200 and [k["key_id"] for k in listed["data"]] == [created["key_id"]]
        assert "key" not in listed["data"][0] and secret not in str(listed)
        assert listed["data"][0]["spend"]["day_usd"] == 0
        for bad, param in (({"roles": ["fast"]}, "name"), ({"name": "x", "roles": ["nope"]}, "roles"),
                           ({"name": "x", "rpm": 0}, "rpm"), ({"name": "x", "usd_per_day": "5"}, "usd_per_day"),
                           ({"name": "x", "owner": "me"}, "owner")):
            status, body = await _call(http, "POST", base + "/admin/keys", ADMIN, bad)
            assert status == 400 and body["error"]["param"] == param
        status, body = await _call(http, "GET", base + "/admin/keys", secret)  # a virtual key is no admin
        assert status == 403 and body["error"]["code"] == "not_admin"
        client = sdk_factory(srv, api_key=secret)
        assert (await client.chat.completions.create(model="fast", messages=MSG)).model == "t/fast-model"
        with pytest.raises(openai.PermissionDeniedError) as err:
            await client.chat.completions.create(model="strong", messages=MSG)
        assert err.value.body["code"] == "model_not_allowed" and "['fast']" in err.value.body["message"]
        status, body = await _call(http, "DELETE", base + f"/admin/keys/{created['key_id']}", ADMIN)
        assert status == 200 and body["revoked"] is not None
        status, body = await _call(http, "DELETE", base + "/admin/keys/key-nope", ADMIN)
        assert status == 404
    with pytest.raises(openai.AuthenticationError) as err:
        await client.chat.completions.create(model="fast", messages=MSG)
    assert err.value.body["code"] == "key_revoked" and created["key_id"] in err.value.body["message"]
    assert secret[3:11] not in err.value.body["message"]
    stored = sqlite3.connect(db).execute("SELECT * FROM keys").fetchall()
    assert len(stored) == 1 and len(stored[0][2]) == 64
    assert not any(isinstance(v, str) and (secret in v or secret[3:11] in v) for v in stored[0])
    assert secret not in db.read_bytes().decode("latin-1")


async def test_keys_are_required_once_any_key_exists_and_unknown_ones_are_refused(
        gateway_factory, sdk_factory) -> None:
    srv = await gateway_factory(admin_key=ADMIN)
    for api_key, code in (("unused", "invalid_api_key"), ("", "missing_api_key")):
        async with aiohttp.ClientSession() as http:
            status, body = await _call(http, "POST", srv.base_url + "/v1/chat/completions", api_key or None,
                                       {"model": "fast", "messages": MSG})
        assert status == 401 and body["error"]["code"] == code and body["error"]["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        await sdk_factory(srv, api_key="unused").models.list()
    assert (await sdk_factory(srv, api_key=ADMIN).chat.completions.create(model="fast", messages=MSG)).choices
    async with aiohttp.ClientSession() as http:
        async with http.get(srv.base_url + "/health") as resp:
            assert resp.status == 200  # health and readiness never need a key


async def test_without_any_key_on_loopback_none_is_needed_and_the_admin_api_is_off(gateway, sdk) -> None:
    assert (await sdk.chat.completions.create(model="fast", messages=MSG)).choices  # sdk sends "unused"
    async with aiohttp.ClientSession() as http:
        status, body = await _call(http, "GET", gateway.base_url + "/admin/keys")
    assert status == 403 and body["error"]["code"] == "admin_disabled" and "TIERFLOW_ADMIN_KEY" in body["error"]["message"]


async def test_beyond_loopback_every_request_needs_a_key(gateway_factory, sdk_factory) -> None:
    srv = await gateway_factory(require_auth=True)
    with pytest.raises(openai.AuthenticationError) as err:
        await sdk_factory(srv).chat.completions.create(model="fast", messages=MSG)
    assert err.value.body["code"] == "invalid_api_key"


async def test_feedback_is_refused_for_another_keys_request(gateway_factory, sdk_factory, tmp_path: Path) -> None:
    srv = await gateway_factory(GatewaySettings(database=str(tmp_path / "fb.sqlite")), admin_key=ADMIN)
    async with aiohttp.ClientSession() as http:
        keys = [(await _call(http, "POST", srv.base_url + "/admin/keys", ADMIN, {"name": n}))[1]["key"]
                for n in ("a", "b")]
        raw = await sdk_factory(srv, api_key=keys[0]).chat.completions.with_raw_response.create(
            model="fast", messages=MSG)
        request_id = raw.headers["x-request-id"]
        status, body = await _call(http, "POST", srv.base_url + "/v1/feedback", keys[1],
                                   {"request_id": request_id, "score": 0})
        assert status == 404 and body["error"]["code"] == "request_not_found"
        status, _ = await _call(http, "POST", srv.base_url + "/v1/feedback", keys[0],
                                {"request_id": request_id, "score": 1})
        assert status == 200


async def test_a_mount_serves_its_own_paths_without_the_key_check_and_nothing_else(gateway_factory) -> None:
    # what `tierflow serve` does with the console (/ui): the gateway knows only the Mount it is handed
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"mounted": request.path})

    mount = Mount("/extra", lambda app: app.router.add_get("/extra/{tail:.*}", hello))
    mounted = await gateway_factory(admin_key=ADMIN, mounts=[mount])
    bare = await gateway_factory(admin_key=ADMIN)
    async with aiohttp.ClientSession() as http:
        assert await _call(http, "GET", mounted.base_url + "/extra/page") == (200, {"mounted": "/extra/page"})
        status, body = await _call(http, "GET", mounted.base_url + "/extrax")  # not under the prefix: a key first
        assert status == 401 and body["error"]["type"] == "authentication_error"
        status, body = await _call(http, "GET", mounted.base_url + "/v1/models")
        assert status == 401
        status, body = await _call(http, "GET", bare.base_url + "/extra/page", ADMIN)  # nothing mounted: no route
        assert status == 404 and body["error"]["code"] == "not_found"
        status, body = await _call(http, "GET", bare.base_url + "/ui", ADMIN)  # the gateway alone has no console
        assert status == 404
