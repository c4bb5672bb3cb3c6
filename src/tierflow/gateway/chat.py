"""``POST /v1/chat/completions``: check the request, call the role, answer, and record it in the ledger.

Every chat request gets a ledger row once its response's last byte is sent: answered, refused
(400, 404, 413...), failed, interrupted mid-stream, or cancelled by the client (status 499).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from tierflow.errors import GatewayError
from tierflow.gateway.budgets import Admission
from tierflow.gateway.core import CALLER_KEY, EXCHANGE, KEY, Gateway, caller_key_id, error_response, read_json
from tierflow.gateway.exchange import Exchange, dumps, result_headers
from tierflow.gateway.failures import to_gateway_error
from tierflow.gateway.streaming import relay
from tierflow.gateway.wire import completion_body, parse_chat

_log = logging.getLogger("tierflow.gateway")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gateway = request.app[KEY]
    exchange = Exchange(request)
    exchange.key_id = caller_key_id(request)
    request[EXCHANGE] = exchange
    admission: list[Admission] = []
    try:
        try:
            resp = await _answer(request, gateway, exchange, admission)
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
        if not resp.prepared:  # send it here, so the ledger row is written after its last byte
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


async def _answer(request: web.Request, gateway: Gateway, exchange: Exchange,
                  admission: list[Admission]) -> web.StreamResponse:
    exchange.check_headers()
    call = parse_chat(await read_json(request), gateway.settings.max_messages)
    exchange.call = call
    exchange.name = gateway.resolve(call.model)
    exchange.is_role = exchange.name in gateway.names
    key = request.get(CALLER_KEY)
    if key is not None:  # the key's limits: reserve now, settle when the response has ended
        admission.append(gateway.limiter.admit(key, exchange.name, exchange.is_role, call))
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
