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
import logging
import struct
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tierflow.errors import GatewayError
from tierflow.gateway.budgets import Admission
from tierflow.gateway.core import CALLER_KEY, EXCHANGE, KEY, caller_key_id, error_response, read_json
from tierflow.gateway.exchange import Exchange, dumps
from tierflow.gateway.failures import to_gateway_error
from tierflow.gateway.wire import ChatCall
from tierflow.types import CallResult, EmbeddingResult

_log = logging.getLogger("tierflow.gateway")
_KNOWN = frozenset({"model", "input", "encoding_format", "user", "dimensions"})
MAX_INPUTS = 2048


def _bad(param: str, message: str, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def parse_embeddings(body: Any) -> tuple[ChatCall, list[str], str]:
    """The request as a call record (model, inputs as messages, user), its inputs and encoding."""
    if not isinstance(body, Mapping):
        raise GatewayError(400, "the request body must be a JSON object", code="invalid_json")
    for name in body:
        if name not in _KNOWN:
            raise GatewayError(400, f"Unrecognized request argument supplied: {name}", param=name,
                               code="unknown_parameter")
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
    gateway = request.app[KEY]
    exchange = Exchange(request)
    exchange.key_id = caller_key_id(request)
    request[EXCHANGE] = exchange
    admission: list[Admission] = []
    try:
        try:
            resp = await _answer(request, exchange, admission)
        except GatewayError as exc:
            exchange.failed(exc, exc.__cause__)
            resp = error_response(exc, exchange.headers())
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            _log.exception("request %s failed unexpectedly", exchange.request_id)
            err = to_gateway_error(RuntimeError())
            exchange.failed(err)
            resp = error_response(err, exchange.headers())
        await resp.prepare(request)
        await resp.write_eof()
    except (asyncio.CancelledError, ConnectionResetError):
        exchange.cancelled()
        raise
    finally:
        for held in admission:
            gateway.limiter.settle(held, exchange)
        gateway.ledger.append(exchange)
    return resp


async def _answer(request: web.Request, exchange: Exchange, admission: list[Admission]) -> web.Response:
    gateway = request.app[KEY]
    exchange.check_headers()
    call, inputs, encoding = parse_embeddings(await read_json(request))
    exchange.call = call
    exchange.name = gateway.resolve(call.model)
    exchange.is_role = exchange.name in gateway.names
    if not exchange.is_role:
        raise _bad("model", "embeddings need an embedding role, not a 'provider/model' name")
    key = request.get(CALLER_KEY)
    if key is not None:
        admission.append(gateway.limiter.admit(key, exchange.name, exchange.is_role, call))
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
