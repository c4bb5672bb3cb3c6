"""Image parts through the gateway: given to roles with the ``vision`` modality (the upstream
receives them), refused for others with a 400 naming the message."""

from __future__ import annotations

import openai
import pytest

from tierflow.testing import LLMTestServer

VISION = "  - {role: eyes, ref: t, model: vision-model, modalities: [text, vision]}\n"
PNG = "data:image/png;base64,iVBORw0KGgo="
MSGS = [{"role": "system", "content": "describe"},
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}}]}]


async def test_a_vision_role_gets_the_image_parts(gateway_factory, sdk_factory, upstream: LLMTestServer) -> None:
    client = sdk_factory(await gateway_factory(models_yaml=VISION))
    for stream in (False, True):
        if stream:
            chunks = [c async for c in await client.chat.completions.create(model="eyes", messages=MSGS, stream=True)]
            assert chunks[-1].model == "t/vision-model"
        else:
            answer = await client.chat.completions.create(model="eyes", messages=MSGS)
            assert answer.model == "t/vision-model" and answer.choices[0].message.content
        sent = upstream.received[-1].body["messages"][1]["content"]
        assert sent == [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": PNG}}]


async def test_a_role_without_vision_refuses_images_naming_the_message(gateway_factory, sdk_factory,
                                                                       upstream: LLMTestServer) -> None:
    client = sdk_factory(await gateway_factory(models_yaml=VISION))
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as err:
            await client.chat.completions.create(model="fast", messages=MSGS, stream=stream)
        body = err.value.body
        assert body["code"] == "unsupported_modality" and body["param"] == "messages[1].content"
        assert "role 'fast'" in body["message"] and "'vision'" in body["message"]
    assert upstream.received == []  # nothing was sent upstream
