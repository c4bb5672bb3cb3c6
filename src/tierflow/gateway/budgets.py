"""Per-key limits: roles, requests and tokens per minute, dollars per UTC day and month (docs/gateway.md).

Dollar budgets are enforced by **reservation**: before the call, the request's worst-case cost is
reserved (its max tokens, and its input counted as one token per byte, at the most expensive
target it may reach; for a model without a known price, ``gateway.unknown_price_per_mtok``);
after it, the reservation is settled to what it really cost. A request is admitted only if spent
+ reserved + its worst case stays within the budget, so concurrent requests never overshoot. The
check and the reservation happen in one step on the event loop, with no ``await`` between them:
no lock serialises requests, and no two can claim the same dollars. Spend survives restarts: a
key's spend for the current UTC day and month is read back from the ledger (``charged_usd``) the
first time the key is used.

Requests of a key with a dollar budget that set no ``max_tokens`` get ``gateway.budget_max_tokens``
(default 4096), so that the reservation is a real bound. Requests and tokens per minute are
sliding windows of 60 s, kept in memory (a restart starts them afresh); tokens are reserved as an
estimate (input bytes / 4 + max tokens) and settled to the real count.
"""

from __future__ import annotations

import math
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tierflow.calls._worst_case import input_bytes
from tierflow.errors import GatewayError
from tierflow.gateway.exchange import Exchange
from tierflow.gateway.keys import KeyStore, VirtualKey
from tierflow.gateway.settings import GatewaySettings
from tierflow.gateway.wire import ChatCall
from tierflow.types import Usage

if TYPE_CHECKING:
    from tierflow.calls import Client

_WINDOW_S = 60.0


def _periods(now: float) -> tuple[str, float, float, str, float, float]:
    """(day, its start, its end, month, its start, its end) in UTC, as Unix seconds."""
    t = datetime.fromtimestamp(now, UTC)
    day0 = t.replace(hour=0, minute=0, second=0, microsecond=0)
    month0 = day0.replace(day=1)
    month1 = (month0 + timedelta(days=32)).replace(day=1)
    return (day0.strftime("%Y-%m-%d"), day0.timestamp(), (day0 + timedelta(days=1)).timestamp(),
            month0.strftime("%Y-%m"), month0.timestamp(), month1.timestamp())


class _KeyState:
    __slots__ = ("requests", "tokens", "tokens_reserved", "day", "day_spent", "month", "month_spent", "reserved")

    def __init__(self) -> None:
        self.requests: deque[float] = deque()
        self.tokens: deque[tuple[float, int]] = deque()
        self.tokens_reserved = 0
        self.day = self.month = ""
        self.day_spent = self.month_spent = 0.0
        self.reserved = 0.0


class Admission:
    """What one admitted request holds until it is settled."""

    __slots__ = ("key", "state", "usd", "tokens", "day", "month", "settled")

    def __init__(self, key: VirtualKey, state: _KeyState, usd: float, tokens: int, day: str, month: str) -> None:
        self.key, self.state, self.usd, self.tokens, self.day, self.month = key, state, usd, tokens, day, month
        self.settled = False


class Limiter:
    """Admits or refuses each keyed request, and settles it afterwards."""

    def __init__(self, store: KeyStore, settings: GatewaySettings, client: Client) -> None:
        self.store = store
        self.settings = settings
        self.client = client
        self._states: dict[str, _KeyState] = {}

    # --- admission ------------------------------------------------------------------------------

    def admit(self, key: VirtualKey, name: str, is_role: bool, call: ChatCall) -> Admission:
        """Check ``key``'s limits for this request and reserve what it may use; raise 403 / 429 if not."""
        if key.roles is not None and (not is_role or name not in key.roles):
            raise GatewayError(403, f"key {key.key_id} ({key.name}) may not call {name!r}; it may call "
                               f"{list(key.roles)}", kind="permission_error", param="model", code="model_not_allowed")
        now = time.time()
        state = self._state(key, now)
        if key.has_budget and call.options.get("max_tokens") is None:
            call.options["max_tokens"] = self.settings.budget_max_tokens
        tokens = self._estimate_tokens(call)
        self._check_rates(key, state, now, tokens)
        usd = self._worst_case_usd(name, call) if key.has_budget else 0.0
        if key.has_budget:
            self._check_budget(key, state, now, usd)
        # no await since the checks: reserve
        if key.rpm is not None:
            state.requests.append(now)
        state.tokens_reserved += tokens
        state.reserved += usd
        return Admission(key, state, usd, tokens, state.day, state.month)

    def _state(self, key: VirtualKey, now: float) -> _KeyState:
        state = self._states.get(key.key_id)
        day, day0, _, month, month0, _ = _periods(now)
        if state is None:
            state = self._states[key.key_id] = _KeyState()
            if key.has_budget:  # spend survives restarts: read it back from the ledger
                state.day_spent = self.store.charged_since(key.key_id, day0)
                state.month_spent = self.store.charged_since(key.key_id, month0)
            state.day, state.month = day, month
        if state.day != day:
            state.day, state.day_spent = day, 0.0
        if state.month != month:
            state.month, state.month_spent = month, 0.0
        return state

    def _check_rates(self, key: VirtualKey, state: _KeyState, now: float, tokens: int) -> None:
        while state.requests and state.requests[0] <= now - _WINDOW_S:
            state.requests.popleft()
        while state.tokens and state.tokens[0][0] <= now - _WINDOW_S:
            state.tokens.popleft()
        if key.rpm is not None and len(state.requests) >= key.rpm:
            raise GatewayError(429, f"key {key.key_id} ({key.name}) reached its limit of {key.rpm} requests per "
                               "minute", kind="rate_limit_error", code="rate_limit_exceeded",
                               retry_after_s=state.requests[0] + _WINDOW_S - now)
        if key.tpm is not None:
            used = sum(n for _, n in state.tokens) + state.tokens_reserved
            if used + tokens > key.tpm:
                wait = state.tokens[0][0] + _WINDOW_S - now if state.tokens else 1.0
                raise GatewayError(429, f"key {key.key_id} ({key.name}) reached its limit of {key.tpm} tokens per "
                                   f"minute ({used} used or reserved; this request needs about {tokens})",
                                   kind="rate_limit_error", code="rate_limit_exceeded", retry_after_s=wait)

    def _check_budget(self, key: VirtualKey, state: _KeyState, now: float, usd: float) -> None:
        _, _, day_end, _, _, month_end = _periods(now)
        for limit, spent, period, ends in ((key.usd_per_day, state.day_spent, "UTC day", day_end),
                                           (key.usd_per_month, state.month_spent, "UTC month", month_end)):
            if limit is not None and spent + state.reserved + usd > limit:
                raise GatewayError(429, f"key {key.key_id} ({key.name}) is over its budget of ${limit:g} per {period}: "
                                   f"${spent:.6f} spent, ${state.reserved:.6f} reserved by requests in flight, and "
                                   f"this request may cost up to ${usd:.6f}; lower max_tokens or wait for the "
                                   f"{period} to end", kind="rate_limit_error", code="budget_exceeded",
                                   retry_after_s=ends - now)

    # --- estimates ------------------------------------------------------------------------------

    @staticmethod
    def _estimate_tokens(call: ChatCall) -> int:
        return math.ceil(input_bytes(call.messages) / 4) + int(call.options.get("max_tokens") or 0)

    def _worst_case_usd(self, name: str, call: ChatCall) -> float:
        """The most this request can cost (the library's bound; unknown prices at the stated estimate)."""
        worst = self.client.worst_case_cost(name, call.messages, int(call.options["max_tokens"]),
                                            unknown=self._unknown)
        assert worst is not None  # every unknown price has the estimate
        return worst

    def _unknown(self, usage: Usage) -> float:
        price = self.settings.unknown_price_per_mtok
        return (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1e6

    # --- settling -------------------------------------------------------------------------------

    def settle(self, adm: Admission, exchange: Exchange) -> None:
        """Replace the reservation by what the request used; record the charge on ``exchange``."""
        if adm.settled:
            return
        adm.settled = True
        state = adm.state
        state.tokens_reserved -= adm.tokens
        state.reserved -= adm.usd
        result = exchange.result
        if result is not None:
            state.tokens.append((time.time(), result.usage.total_tokens))
        if not adm.key.has_budget:
            return
        if result is not None:
            charged = result.cost_usd if result.cost_usd is not None else self._unknown(result.usage)
        elif exchange.outcome in ("interrupted", "cancelled"):
            charged = adm.usd  # the upstream may have generated (and billed) up to the worst case
        else:
            charged = 0.0  # failed before any answer
        exchange.charged_usd = charged
        if state.day == adm.day:
            state.day_spent += charged
        if state.month == adm.month:
            state.month_spent += charged

    def spend(self, key: VirtualKey) -> dict[str, float]:
        state = self._state(key, time.time())
        return {"day_usd": state.day_spent, "month_usd": state.month_spent, "reserved_usd": state.reserved}


__all__ = ["Admission", "Limiter"]
