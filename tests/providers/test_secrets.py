"""No fragment of a credential reaches an error, a repr or a traceback.

The rule: any run of 8+ characters of a secret's private part (after ``sk-``, ``sk-proj-``,
``sk-ant-api03-``...), in any letter case or inside base64, is masked; masking happens before an
excerpt is cut; the API key and every configured header value are secrets. Each variant is echoed
back by the loopback server in an error body, as a careless (or hostile) upstream would.
"""

from __future__ import annotations

import base64
import traceback

import pytest

from tierflow.calls import Client
from tierflow.config import parse_config
from tierflow.errors import AllTargetsFailedError, ProviderError
from tierflow.providers._http_errors import EXCERPT_CHARS, error_excerpt
from tierflow.providers._secrets import Masker, private_part, safe_url, strip_urls
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.providers.openai_compat import OpenAIProvider
from tierflow.testing import LLMTestServer, Status
from tierflow.types import ChatRequest

T = Timeouts(connect=2.0, total=5.0, stream_idle=2.0)
KEYS = {"openai": "sk-proj-Q7fT2mLx9Vb4Rk8Zp1Wc6Hn3Jd5Gs0Ye",
        "azure": "3f9c1e7a5b2d4f6081a9c3e5b7d9f1a2",
        "anthropic": "sk-ant-api03-Xy7Pq2Lm9Nb4Vc8Rt1Sd6Fg3Hj5Kl0Zx",
        "gemini": "AIzaSyB4x9Qm2Lp7Vn1Rc8Tz3Kd6Hf0Gj5Ws"}
HEADER = "hdr-Gw7Kp2Qx9Lm4Vb8Rn1Tc6Zs3"


def fragments(secret: str) -> list[str]:
    """Every 8-character run of ``secret``'s private part, and of its base64 spellings."""
    private = private_part(secret)
    forms = [private]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + private.encode()).decode()
        forms.append(encoded[(pad * 4 + 2) // 3:-2])
    return [f[i:i + 8] for f in forms for i in range(len(f) - 7)]


def assert_no_leak(text: str, *secrets: str) -> None:
    low = text.lower()
    for secret in secrets:
        leaked = [f for f in fragments(secret) if f.lower() in low]
        assert not leaked, f"fragments of a secret leaked: {leaked[:3]}"


def echoes(key: str) -> dict[str, str]:
    private = private_part(key)
    return {
        "cut at the excerpt limit": "x" * 290 + " " + key + " and more text after it " * 5,
        "suffix": f"the key ending in ...{private[-12:]} is invalid",
        "prefix without its public part": f"key {private[:10]}... is revoked",
        "upper case": f"INVALID KEY {key.upper()}",
        "lower case": f"invalid key {key.lower()}",
        "base64": "Authorization: Basic " + base64.b64encode(f"user:{key}".encode()).decode(),
        "base64 url-safe": "token=" + base64.urlsafe_b64encode(("!" + key).encode()).decode(),
        "header value": f"gateway rejected X-Gateway-Key={HEADER}",
        "header value upper": f"GATEWAY REJECTED {HEADER.upper()[4:]}",
    }


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("kind", list(KEYS))
async def test_echoed_secrets_are_masked_in_every_form(kind: str, stream: bool, llm_server: LLMTestServer) -> None:
    key = KEYS[kind]
    cases = echoes(key)
    status = 400 if kind == "gemini" else 401
    llm_server.script("m", [Status(status, message=text) for text in cases.values()])
    settings = ProviderSettings(kind=kind, base_url=llm_server.base_url, api_key=key, headers={"X-Gateway-Key": HEADER})
    provider = create_provider("p", settings)
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    try:
        for name in cases:
            with pytest.raises(ProviderError) as info:
                if stream:
                    async for _ in provider.stream(request, timeouts=T):
                        pass
                else:
                    await provider.complete(request, timeouts=T)
            text = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))
            assert "***" in str(info.value), name
            assert_no_leak(text, key, HEADER)
    finally:
        await provider.aclose()


def test_masking_comes_before_the_cut() -> None:
    key = KEYS["azure"]
    mask = Masker([key])
    for offset in range(EXCERPT_CHARS - 30, EXCERPT_CHARS + 2):
        excerpt, _ = error_excerpt(("y" * offset + key + " tail").encode(), (key,))
        assert_no_leak(excerpt, key)
        assert len(excerpt) <= EXCERPT_CHARS + 3
    assert mask("nothing secret here") == "nothing secret here"


def test_short_secrets_are_masked_whole_and_key_shapes_always() -> None:
    mask = Masker(["abc123", "x"])  # a 6-character key; a 1-character one is never searched for
    assert mask("key abc123 and ABC123") == "key *** and ***"
    assert mask("see SK-PROJ-ABCDEFGHIJ and Bearer tok.en and AIzaSyAbcdefghijklmn") == "see *** and *** and ***"
    assert mask("ax x") == "ax x"


def test_urls_lose_credentials_query_and_fragment() -> None:
    assert safe_url("https://u:pw@host:8443/v1/x?key=SECRET#frag") == "https://host:8443/v1/x"
    assert safe_url("not a url") == "(an invalid URL)"
    assert strip_urls("cannot reach http://a:b@h/p?k=SECRET now") == "cannot reach http://h/p now"


async def test_configured_headers_are_secrets_in_reprs_and_dumps(llm_server: LLMTestServer) -> None:
    settings = ProviderSettings(kind="openai", base_url=llm_server.base_url, api_key=KEYS["openai"],
                                headers={"X-Gateway-Key": HEADER, "X-Title": "my-app-title-123"})
    provider = create_provider("p", settings)
    assert isinstance(provider, OpenAIProvider)
    shown = repr(settings) + str(settings) + settings.model_dump_json() + repr(settings.model_dump()) + \
        repr(provider._headers) + str(provider._headers)
    assert_no_leak(shown, KEYS["openai"], HEADER, "my-app-title-123")
    await provider.complete(ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}]), timeouts=T)
    await provider.aclose()
    assert llm_server.received[-1].headers["X-Gateway-Key"] == HEADER  # still sent, just never shown


async def test_a_failed_call_and_its_record_show_no_secret(llm_server: LLMTestServer) -> None:
    key = KEYS["anthropic"]
    config = parse_config(f"""
providers:
  a: {{kind: anthropic, base_url: "{llm_server.base_url}", api_key: "${{KEY}}", headers: {{X-Gateway-Key: "${{HDR}}"}}}}
models:
  - {{role: main, ref: a, model: m}}
reliability: {{max_retries: 0}}
""", env={"KEY": key, "HDR": HEADER})
    llm_server.set_default("m", Status(401, message=f"bad key {key.upper()} / {HEADER}"))
    async with Client(config) as client:
        with pytest.raises(AllTargetsFailedError) as info:
            await client.acall("main", "hi")
    text = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value)) + repr(config)
    assert_no_leak(text, key, HEADER)
