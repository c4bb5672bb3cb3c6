"""``POST /v1/chat/completions``: check the request, call the role, answer, and record it in the ledger.

Every chat request gets a ledger row once its response's last byte is sent: answered, refused
(400, 404, 413...), failed, interrupted mid-stream, or cancelled by the client (status 499).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from tierflow.errors import GatewayError
from tierflow.gateway.budgets import Admission
from tierflow.gateway.core import KEY, admit, ledgered, read_body
from tierflow.gateway.exchange import Exchange, dumps, result_headers
from tierflow.gateway.streaming import relay
from tierflow.gateway.wire import completion_body, parse_chat


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await ledgered(request, _answer)


async def _answer(request: web.Request, exchange: Exchange, admission: list[Admission]) -> web.StreamResponse:
    gateway = request.app[KEY]
    call = parse_chat(await read_body(request, exchange), gateway.settings.max_messages)
    admit(request, exchange, call, admission)
    if call.stream:
        return await relay(request, gateway, exchange, call)
    try:
        result = await gateway.client.acall(exchange.name, call.messages, request_id=exchange.request_id,
                                            split_key=exchange.split_key, **call.options)
    except (asyncio.CancelledError, GatewayError):
        raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes an OpenAI-shaped error
        raise gateway.wire_error(exc) from exc
    exchange.succeeded(result)
    body = completion_body(exchange.completion_id, exchange.created, result)
    body["tierflow"] = exchange.report(result)
    return web.Response(body=dumps(body), content_type="application/json", headers=result_headers(exchange, result))


__all__ = ["chat_completions"]
