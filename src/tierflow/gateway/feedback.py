"""``POST /v1/feedback``: a score for an earlier request, stored beside it in the ledger.

Body: ``{"request_id": "...", "score": 0.0-1.0, "label": "optional, up to 200 characters"}``.
Accepted only for a request made with the caller's own key (without keys: by a caller without
one); any other request id is a 404, so a caller learns nothing of other keys' requests. Routers
learn from these outcomes later (docs/gateway.md, "The ledger").
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tierflow.errors import GatewayError
from tierflow.gateway.core import KEY, caller_key_id, read_json
from tierflow.gateway.exchange import dumps

_FIELDS = ("request_id", "score", "label")


def _check(body: Any) -> tuple[str, float, str | None]:
    if not isinstance(body, Mapping):
        raise GatewayError(400, "the feedback body must be a JSON object with request_id and score",
                           code="invalid_json")
    for name in body:
        if name not in _FIELDS:
            raise GatewayError(400, f"Unrecognized feedback argument supplied: {name} (expected {list(_FIELDS)})",
                               param=name, code="unknown_parameter")
    request_id, score, label = body.get("request_id"), body.get("score"), body.get("label")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 64:
        raise GatewayError(400, "'request_id' must be the x-request-id of an earlier request", param="request_id",
                           code="invalid_value")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
        raise GatewayError(400, f"'score' must be a number from 0 to 1, got {score!r}", param="score",
                           code="invalid_value")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise GatewayError(400, "'label' must be a string of at most 200 characters", param="label",
                           code="invalid_value")
    return request_id, float(score), label


async def post_feedback(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    request_id, score, label = _check(await read_json(request))
    key_id = caller_key_id(request)
    known, owner = await asyncio.to_thread(gateway.ledger.owner, request_id)
    if not known or owner != key_id:
        raise GatewayError(404, f"no request {request_id!r} was made with this key", param="request_id",
                           code="request_not_found")
    gateway.ledger.add_feedback(request_id, key_id, score, label)
    return web.Response(body=dumps({"object": "feedback", "request_id": request_id, "score": score, "label": label}),
                        content_type="application/json")


__all__ = ["post_feedback"]
