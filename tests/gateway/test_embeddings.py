"""``POST /v1/embeddings`` with the official OpenAI SDK: vectors in order (float and base64),
the ledger row, refusals naming the parameter, chat roles refused."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import openai
import pytest

from tierflow.gateway import GatewaySettings
from tierflow.testing import LLMTestServer, Status
from tierflow.testing.embeddings import vector

from .test_ledger import wait_rows

EMBED = ("  - {role: embed, ref: t, model: embed-model, modalities: [embedding], "
         "fallback: [{ref: t, model: embed-backup}]}\n")


async def test_embeddings_with_the_sdk(gateway_factory, sdk_factory, upstream: LLMTestServer, tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite"
    srv = await gateway_factory(GatewaySettings(database=str(db), commit_interval_s=0.05), models_yaml=EMBED)
    client = sdk_factory(srv)
    listed = {m.id: m.model_extra for m in (await client.models.list()).data}
    assert listed["embed"]["modalities"] == ["embedding"]
    raw = await client.embeddings.with_raw_response.create(model="embed", input=["one two", "three"],
                                                           encoding_format="float")
    result = raw.parse()
    assert [d.embedding for d in result.data] == [vector("one two"), vector("three")]
    assert result.model == "t/embed-model" and result.usage.prompt_tokens == 3
    assert raw.headers["x-tierflow-model"] == "t/embed-model" and raw.headers["x-tierflow-role"] == "embed"
    # the SDK asks for base64 by default and decodes it itself
    default = await client.embeddings.create(model="embed", input="solo")
    assert default.data[0].embedding == pytest.approx(vector("solo"), abs=1e-6)
    upstream.script("embed-model", [Status(500)])
    fallback = await client.embeddings.create(model="embed", input="x")
    assert fallback.model == "t/embed-backup"
    rows = await wait_rows(db, 3)
    assert [(r["role"], r["model"], r["status"], r["input_tokens"]) for r in rows] == [
        ("embed", "t/embed-model", 200, 3), ("embed", "t/embed-model", 200, 1), ("embed", "t/embed-backup", 200, 1)]


async def test_base64_is_little_endian_float32(gateway_factory, upstream: LLMTestServer) -> None:
    import aiohttp

    srv = await gateway_factory(models_yaml=EMBED)
    async with aiohttp.ClientSession() as http:
        async with http.post(srv.base_url + "/v1/embeddings",
                             json={"model": "embed", "input": "abc", "encoding_format": "base64"}) as resp:
            body = await resp.json()
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(vector("abc"), abs=1e-6)


@pytest.mark.parametrize(("kwargs", "param", "words"), [
    ({"model": "fast", "input": "x"}, "model", "role 'fast' has modalities ['text']"),
    ({"model": "embed", "input": [1, 2, 3]}, "input[0]", "token arrays are not supported"),
    ({"model": "embed", "input": "x", "dimensions": 4}, "dimensions", "not supported"),
    ({"model": "embed", "input": []}, "input", "list of 1 to 2048 strings"),
])
async def test_refusals_name_the_parameter(gateway_factory, sdk_factory, kwargs: dict, param: str,
                                           words: str) -> None:
    client = sdk_factory(await gateway_factory(models_yaml=EMBED))
    with pytest.raises(openai.BadRequestError) as err:
        await client.embeddings.create(**kwargs)
    assert err.value.body["param"] == param and words in err.value.body["message"]
