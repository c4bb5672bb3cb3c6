"""``POST /v1/embeddings``: OpenAI's embeddings API for roles with the ``embedding`` modality.

Body: ``model`` (an embedding role), ``input`` (a string or a list of up to 2048 strings),
``encoding_format`` (``float``, the default, or ``base64``: little-endian float32, as OpenAI
sends it), ``user``. ``dimensions`` and token-array inputs are refused with a 400 naming them. The
call is the library's (:meth:`tierflow.Client.aembed`: the role's chain, breakers, retries,
fallbacks); keys' role lists, rates and budgets apply as for chat (an embedding generates no
tokens, so its worst case is its input); every request gets a ledger row.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any

from aiohttp import web

from tierflow.errors import GatewayError
from tierflow.gateway.budgets import Admission
from tierflow.gateway.core import KEY, admit, ledgered, read_body
from tierflow.gateway.exchange import Exchange, dumps
from tierflow.gateway.wire import ChatCall, request_fields
from tierflow.types import CallResult, EmbeddingResult

_KNOWN = frozenset({"model", "input", "encoding_format", "user", "dimensions"})
MAX_INPUTS = 2048


def _bad(param: str, message: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def parse_embeddings(body: Any) -> tuple[ChatCall, list[str], str]:
    """The request as a call record (model, inputs as messages, user), its inputs and encoding."""
    body = request_fields(body, _KNOWN)
    if body.get("dimensions") is not None:
        raise _bad("dimensions", "'dimensions' is not supported by this gateway: the role's model decides the size",
                   "unsupported_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "'model' is required: an embedding role")
    value = body.get("input")
    inputs = [value] if isinstance(value, str) else value
    if not isinstance(inputs, list) or not inputs or len(inputs) > MAX_INPUTS:
        raise _bad("input", f"'input' must be a string or a list of 1 to {MAX_INPUTS} strings")
    for i, text in enumerate(inputs):
        if not isinstance(text, str):
            raise _bad(f"input[{i}]", f"'input[{i}]' must be a string (token arrays are not supported: send text)")
        if not text:
            raise _bad(f"input[{i}]", f"'input[{i}]' is empty")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise _bad("encoding_format", "'encoding_format' must be 'float' or 'base64'")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user", "'user' must be a string")
    call = ChatCall(model=model, messages=[{"role": "user", "content": t} for t in inputs], user=user,
                    options={"max_tokens": 0})
    return call, inputs, encoding


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _body(result: EmbeddingResult, encoding: str) -> dict[str, Any]:
    return {"object": "list", "model": result.model_used,
            "data": [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)}
                     for i, v in enumerate(result.vectors)],
            "usage": {"prompt_tokens": result.usage.input_tokens, "total_tokens": result.usage.input_tokens}}


def _as_call_result(result: EmbeddingResult) -> CallResult:
    """The ledger's and the budget's view of an embedding call (no text, no output tokens)."""
    return CallResult("", result.model_used, result.provider, result.role, result.usage, result.cost_usd,
                      result.latency_s, None, result.attempts, None, request_id=result.request_id)


async def embeddings(request: web.Request) -> web.StreamResponse:
    return await ledgered(request, _answer)


async def _answer(request: web.Request, exchange: Exchange, admission: list[Admission]) -> web.StreamResponse:
    gateway = request.app[KEY]
    call, inputs, encoding = parse_embeddings(await read_body(request, exchange))
    admit(request, exchange, call, admission,
          roles_only="embeddings need an embedding role, not a 'provider/model' name")
    try:
        result = await gateway.client.aembed(exchange.name, inputs, request_id=exchange.request_id)
    except (asyncio.CancelledError, GatewayError):
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an OpenAI-shaped error
        raise gateway.wire_error(exc) from exc
    exchange.succeeded(_as_call_result(result))
    headers = exchange.headers(result.model_used)
    headers["x-tierflow-attempts"] = str(len(result.attempts))
    headers["x-tierflow-cost-usd"] = "unknown" if result.cost_usd is None else f"{result.cost_usd:.10f}"
    return web.Response(body=dumps(_body(result, encoding)), content_type="application/json", headers=headers)


__all__ = ["embeddings", "parse_embeddings"]
