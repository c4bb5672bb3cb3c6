"""What a failed call becomes on the wire: an HTTP status and OpenAI's error fields.

| what failed | status | type / code |
|---|---|---|
| every target rate-limited (429) | 429 + Retry-After | rate_limit_error / rate_limit_exceeded |
| every target cooling down (breakers open) | 503 + Retry-After | server_error / service_unavailable |
| the request was refused upstream (400, 422) | 400 | invalid_request_error / upstream_rejected |
| timeouts, the call's deadline | 504 | server_error / timeout |
| 5xx, broken answers, connection failures, upstream keys or models wrong | 502 | server_error / upstream_error |
| strict cost mode, no price known | 400 | invalid_request_error / price_unknown |
| image parts for a role without the ``vision`` modality | 400 | invalid_request_error / unsupported_modality |
| embeddings from a role without the ``embedding`` modality | 400 | invalid_request_error / unsupported_modality |
| the config cannot serve the model (a missing key...) | 500 | server_error / config_error |

Messages name roles, targets and error classes; provider messages are redacted at their source,
so no key reaches a body. Anything else is a 500 naming only the request id.
"""

from __future__ import annotations

import math

from tierflow.errors import (
    AllTargetsFailedError,
    APITimeoutError,
    BadRequestError,
    ConfigError,
    DeadlineExceededError,
    EmbeddingRoleError,
    GatewayError,
    PriceUnknownError,
    ProviderError,
    RateLimitError,
    TierflowError,
    UnknownRoleError,
    UnprocessableEntityError,
    VisionModalityError,
)

DEFAULT_RETRY_AFTER_S = 1.0


def _from_provider(exc: ProviderError, message: str) -> GatewayError:
    if isinstance(exc, RateLimitError):
        return GatewayError(429, message, kind="rate_limit_error", code="rate_limit_exceeded",
                            retry_after_s=exc.retry_after_s if exc.retry_after_s is not None else DEFAULT_RETRY_AFTER_S)
    if isinstance(exc, (BadRequestError, UnprocessableEntityError)):
        return GatewayError(400, message, code="upstream_rejected")
    if isinstance(exc, APITimeoutError):
        return GatewayError(504, message, kind="server_error", code="timeout")
    return GatewayError(502, message, kind="server_error", code="upstream_error")


def to_gateway_error(exc: BaseException) -> GatewayError:
    """The wire error for ``exc``. When every target was cooling down, the call layer's retry hint
    (``AllTargetsFailedError.retry_after_s``) is sent as Retry-After with the 503."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, AllTargetsFailedError):
        last = exc.last_error
        if isinstance(last, ProviderError):
            return _from_provider(last, str(exc))
        wait = exc.retry_after_s if exc.retry_after_s else DEFAULT_RETRY_AFTER_S
        return GatewayError(503, f"{exc} (every target is cooling down after failures; retry later)",
                            kind="server_error", code="service_unavailable", retry_after_s=wait)
    if isinstance(exc, ProviderError):
        return _from_provider(exc, str(exc))
    if isinstance(exc, DeadlineExceededError):
        return GatewayError(504, str(exc), kind="server_error", code="timeout")
    if isinstance(exc, PriceUnknownError):
        return GatewayError(400, str(exc), code="price_unknown")
    if isinstance(exc, EmbeddingRoleError):
        return GatewayError(400, str(exc), param="model", code="unsupported_modality")
    if isinstance(exc, VisionModalityError):
        return GatewayError(400, str(exc), param=f"messages[{exc.index}].content", code="unsupported_modality")
    if isinstance(exc, UnknownRoleError):
        return GatewayError(404, str(exc), code="model_not_found", param="model")
    if isinstance(exc, (ConfigError, TierflowError)):
        return GatewayError(500, f"the gateway's config cannot serve this request: {exc}", kind="server_error",
                            code="config_error")
    return GatewayError(500, "internal error in the gateway (see its log for this request id)",
                        kind="server_error", code="internal_error")


def retry_after_headers(exc: GatewayError) -> dict[str, str]:
    """``Retry-After`` (whole seconds, as HTTP has it) and ``retry-after-ms`` (the OpenAI SDK reads it first)."""
    if exc.retry_after_s is None:
        return {}
    wait = max(0.0, exc.retry_after_s)
    return {"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(round(wait * 1000))}


__all__ = ["to_gateway_error", "retry_after_headers", "DEFAULT_RETRY_AFTER_S"]
