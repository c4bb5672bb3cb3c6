"""One request's identity and how its answer was made: headers, the ``tierflow`` report, JSON."""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from aiohttp import web

from tierflow.errors import AllTargetsFailedError, DeadlineExceededError, GatewayError, ProviderError
from tierflow.gateway.wire import ChatCall
from tierflow.types import Attempt, CallResult

_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,200}")
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one encoder, not one per answer
_RAND_B = (1 << 62) - 1


def dumps(data: Any) -> bytes:
    return _JSON.encode(data).encode()


def new_request_id() -> str:
    """A UUIDv7 in hex (32 characters): unique, and ordered by time, so that the ledger's indexes
    on ``request_id`` grow at their end (random ids land anywhere in them, which costs the ledger's
    writer more per row the larger the file: bench/bench_ledger_ids.py)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) << 64) | (0b10 << 62) | (rand & _RAND_B)
    return f"{value:032x}"


class Exchange:
    """One chat request from arrival to its last byte: identity, what it resolved to, how it ended.

    The handler fills it in; headers, the ``tierflow`` report and the ledger row are read from it.
    """

    __slots__ = ("request_id", "client_request_id", "created", "started", "name", "is_role", "call", "key_id",
                 "variant", "status", "outcome", "error_code", "result", "attempts", "model", "text", "ttft_s",
                 "charged_usd", "_client_id_ok")

    def __init__(self, request: web.Request) -> None:
        self.request_id = new_request_id()
        self.created = int(time.time())
        self.started = time.perf_counter()
        self.name = ""
        self.is_role = False
        self.call: ChatCall | None = None
        self.key_id: str | None = None
        self.variant: str | None = None
        self.status = 200
        self.outcome = "ok"
        """ok, error (refused or failed before any content), interrupted (failed after content), cancelled."""
        self.error_code: str | None = None
        self.result: CallResult | None = None
        self.attempts: list[Attempt] = []
        self.model: str | None = None
        self.text: str | None = None
        """For a stream that did not finish: the text delivered before it ended."""
        self.ttft_s: float | None = None
        self.charged_usd: float | None = None
        """What the request was charged against its key's dollar budget (None: the key has none)."""
        client_id = request.headers.get("x-request-id") or request.headers.get("x-client-request-id")
        self._client_id_ok = client_id is None or _CLIENT_ID.fullmatch(client_id) is not None
        self.client_request_id = client_id if self._client_id_ok else None

    def check_headers(self) -> None:
        """Refuse a client request id that could not travel back in a header or a log line."""
        if not self._client_id_ok:
            raise GatewayError(400, "the x-request-id header must be 1 to 200 printable ASCII characters",
                               param="x-request-id", code="invalid_header")

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.request_id}"

    @property
    def split_key(self) -> str | None:
        """What keeps a traffic split's caller on one variant: the request's ``user``, else its key."""
        user = self.call.user if self.call is not None else None
        return user or self.key_id

    def succeeded(self, result: CallResult) -> None:
        self.result = result
        self.attempts = result.attempts
        self.model = result.model_used
        self.ttft_s = result.ttft_s
        self.variant = result.variant

    def failed(self, exc: GatewayError, cause: BaseException | None = None, *, after_content: bool = False) -> None:
        self.status = exc.status
        self.outcome = "interrupted" if after_content else "error"
        self.error_code = exc.code
        if isinstance(cause, (ProviderError, AllTargetsFailedError, DeadlineExceededError)) and cause.attempts:
            self.attempts = list(cause.attempts)

    def cancelled(self) -> None:
        self.status = 499  # nginx's "client closed request"
        self.outcome = "cancelled"

    def headers(self, model: str | None = None) -> dict[str, str]:
        out = {"x-request-id": self.request_id}
        if self.client_request_id:
            out["x-client-request-id"] = self.client_request_id
        if self.is_role:
            out["x-tierflow-role"] = self.name
        if model:
            out["x-tierflow-model"] = model
        if self.variant:
            out["x-tierflow-variant"] = self.variant
        return out

    def report(self, result: CallResult) -> dict[str, Any]:
        """What the gateway tells about how the answer was made (headers, final chunk, body)."""
        return {"request_id": self.request_id, "role": self.name if self.is_role else None,
                "model": result.model_used, "provider": result.provider,
                "attempts": [{"target": a.target, "outcome": a.outcome, "error": a.error,
                              "status_code": a.status_code} for a in result.attempts],
                "cost_usd": result.cost_usd, "decision": decision_of(result.decision), "variant": result.variant}


def decision_of(decision: dict[str, Any] | None) -> dict[str, Any] | None:
    if not decision:
        return None
    details = decision.get("details") or {}
    out = {"chosen": decision.get("chosen_role") or decision.get("chosen_model"),
           "predicted_quality": decision.get("predicted_quality"),
           "predicted_cost_usd": decision.get("predicted_cost"),
           "runner_up": decision.get("runner_up") or decision.get("runner_up_model")}
    if "propensity" in details:  # exploration: what off-policy estimates need (docs/routing.md)
        out.update(propensity=details["propensity"], explored=details.get("explored"),
                   router_choice=details.get("router_choice"))
    return out


def route_headers(decision: dict[str, Any] | None) -> dict[str, str]:
    """A routed role's decision as ``x-tierflow-route-*`` headers (none for other roles)."""
    shown = decision_of(decision)
    if not shown:
        return {}
    return {f"x-tierflow-route-{key.replace('_', '-')}": str(value) for key, value in shown.items()
            if value is not None}


def result_headers(exchange: Exchange, result: CallResult) -> dict[str, str]:
    headers = exchange.headers(result.model_used)
    headers["x-tierflow-attempts"] = str(len(result.attempts))
    headers["x-tierflow-cost-usd"] = "unknown" if result.cost_usd is None else f"{result.cost_usd:.10f}"
    headers.update(route_headers(result.decision))
    return headers



__all__ = ["Exchange", "decision_of", "dumps", "new_request_id", "result_headers", "route_headers"]
