"""Who is calling: the admin key, a virtual key, or (on loopback with no keys at all) nobody.

Keys travel as ``Authorization: Bearer <key>`` (what the OpenAI SDK sends) or ``api-key``. Keys
are required whenever the gateway binds beyond loopback, and on loopback as soon as an admin key
(``$TIERFLOW_ADMIN_KEY``) is set or a virtual key was ever created (revoking the last key does not
open the gateway again); with neither, as in the quick start, requests need none and a key the SDK
sends anyway (``api_key="unused"``) is ignored. ``/health`` and
``/ready`` never need one. The admin API (``/admin/keys``) needs the admin key:

- ``POST /admin/keys`` ``{"name", "roles", "rpm", "tpm", "usd_per_day", "usd_per_month"}`` -> the
  key with its secret (shown once);
- ``GET /admin/keys`` -> every key (no secret, no hash) with its spend today and this month;
- ``DELETE /admin/keys/{id}`` -> the key, revoked.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tierflow.errors import GatewayError
from tierflow.gateway.core import CALLER, CALLER_KEY, KEY, Gateway, read_json
from tierflow.gateway.exchange import dumps
from tierflow.gateway.keys import ADMIN_ID, ADMIN_KEY_ENV

_OPEN_PATHS = frozenset({"/health", "/ready"})


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return (value.strip() or None) if scheme.lower() == "bearer" else None
    return request.headers.get("api-key") or None


def _unauthorized(message: str, code: str) -> GatewayError:
    return GatewayError(401, message, kind="authentication_error", code=code)


def authenticate(gateway: Gateway, request: web.Request) -> None:
    """Set the request's caller, or raise 401 when a key is needed and missing, unknown or revoked."""
    token = _token(request)
    if token is not None:
        if gateway.admin_key is not None and hmac.compare_digest(token.encode(), gateway.admin_key.encode()):
            request[CALLER] = ADMIN_ID
            return
        key = gateway.keys.lookup(token)
        if key is not None and key.revoked is None:
            request[CALLER] = key.key_id
            request[CALLER_KEY] = key
            return
        if not gateway.auth_required():
            return  # loopback, no keys anywhere: whatever the SDK sent is not a key
        if key is not None:
            raise _unauthorized(f"this API key ({key.key_id}) was revoked", "key_revoked")
        raise _unauthorized("invalid API key: it is not one of this gateway's keys", "invalid_api_key")
    if gateway.auth_required():
        raise _unauthorized("an API key is required: send 'Authorization: Bearer <key>' (a key from `tierflow "
                            "keys create` or the admin key)", "missing_api_key")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in _OPEN_PATHS:
        gateway = request.app[KEY]
        authenticate(gateway, request)
        if request.path.startswith("/admin/") and request.get(CALLER) != ADMIN_ID:
            if gateway.admin_key is None:
                raise GatewayError(403, f"the admin API is off: set {ADMIN_KEY_ENV} for `tierflow serve`",
                                   kind="permission_error", code="admin_disabled")
            raise GatewayError(403, "the admin API needs the admin key", kind="permission_error", code="not_admin")
    return await handler(request)


# --- the admin API ---------------------------------------------------------------------------------

_LIMITS = {"rpm": int, "tpm": int, "usd_per_day": float, "usd_per_month": float}


def check_key_fields(body: Any, known: set[str]) -> dict[str, Any]:
    """The arguments of ``KeyStore.create`` from an admin request (400 naming the field otherwise)."""
    if not isinstance(body, Mapping):
        raise GatewayError(400, "the body must be a JSON object with 'name' and optional limits", code="invalid_json")
    out: dict[str, Any] = {}
    for field, value in body.items():
        if field == "name":
            if not isinstance(value, str) or not 1 <= len(value) <= 100:
                raise GatewayError(400, "'name' must be a string of 1 to 100 characters", param="name",
                                   code="invalid_value")
        elif field == "roles":
            if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
                raise GatewayError(400, "'roles' must be a non-empty list of role names", param="roles",
                                   code="invalid_value")
            unknown = sorted(set(value) - known)
            if unknown:
                raise GatewayError(400, f"unknown role(s) {unknown}: this gateway serves {sorted(known)}",
                                   param="roles", code="invalid_value")
        elif field in _LIMITS:
            whole = _LIMITS[field] is int
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < (1 if whole else 0) \
                    or (whole and not isinstance(value, int)):
                kind = "an integer of at least 1" if whole else "a number of at least 0"
                raise GatewayError(400, f"'{field}' must be {kind}", param=field, code="invalid_value")
        else:
            raise GatewayError(400, f"Unrecognized key argument supplied: {field} (expected name, roles, "
                               f"{', '.join(_LIMITS)})", param=field, code="unknown_parameter")
        out[field] = value
    if "name" not in out:
        raise GatewayError(400, "'name' is required", param="name", code="invalid_value")
    return out


async def create_key(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    fields = check_key_fields(await read_json(request), gateway.names)
    key, secret = gateway.keys.create(fields.pop("name"), **fields)
    return web.Response(status=201, body=dumps({**key.to_dict(), "key": secret}), content_type="application/json")


async def list_keys(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    data = [{**k.to_dict(), "spend": gateway.limiter.spend(k)} for k in gateway.keys.list()]
    return web.Response(body=dumps({"object": "list", "data": data}), content_type="application/json")


async def revoke_key(request: web.Request) -> web.Response:
    gateway = request.app[KEY]
    key = gateway.keys.revoke(request.match_info["key_id"])
    if key is None:
        raise GatewayError(404, f"no key {request.match_info['key_id']!r}", param="key_id", code="key_not_found")
    return web.Response(body=dumps(key.to_dict()), content_type="application/json")


__all__ = ["auth_middleware", "authenticate", "check_key_fields", "create_key", "list_keys", "revoke_key"]
