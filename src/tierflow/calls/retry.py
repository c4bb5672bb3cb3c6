"""What to do after a failed attempt: retry the same target, fall back to the next, or give up.

Decisions, by error (see :mod:`tierflow.errors`):

============================================  =========  ==========  ===================
error                                         retry      fall back   trips the breaker
============================================  =========  ==========  ===================
429 RateLimitError                            yes        after       yes
408 / 409 / 5xx ServerError                   yes        after       yes
APITimeoutError (connect, total, idle)        yes        after       yes
APIConnectionError (refused, reset, DNS)      yes        after       yes
ResponseFormatError (garbage answer)          yes        after       yes
401 / 403 / 404 (auth, permission, model)     no         yes         yes
400 / 422 (this request is wrong here)        no         yes         no
StreamInterruptedError (after 1st chunk)      no         no          yes
anything else (a bug)                         no         no          no  (raised as is)
============================================  =========  ==========  ===================

"after" = once the target's retries are used up. Backoff is the OpenAI SDK's:
``min(initial * 2**n, max) * (1 - jitter * random())``. A server's ``Retry-After`` /
``retry-after-ms`` replaces the backoff when it is at most ``retry_after_max_s`` (default 60 s);
a longer one is not waited for: the call moves on to the next target. No wait ever crosses the
call's deadline.
"""

from __future__ import annotations

import random

from tierflow.errors import BadRequestError, ProviderError, UnprocessableEntityError

_REQUEST_SPECIFIC = (BadRequestError, UnprocessableEntityError)


class RetryPolicy:
    """Backoff and retry limits; plain attributes so the hot path reads them cheaply."""

    __slots__ = ("max_retries", "initial", "maximum", "jitter", "retry_after_max", "_random")

    def __init__(self, max_retries: int = 2, initial: float = 0.5, maximum: float = 8.0,
                 jitter: float = 0.25, retry_after_max: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.max_retries = max_retries
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.retry_after_max = retry_after_max
        self._random = (rng or random.Random()).random

    def backoff(self, retry_index: int) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based), jitter applied."""
        base = min(self.initial * (2.0 ** retry_index), self.maximum)
        return base * (1.0 - self.jitter * self._random())

    def wait_before_retry(self, error: ProviderError, retry_index: int) -> float | None:
        """Seconds to wait before retrying after ``error``; None when it must not be retried."""
        if not error.retryable or retry_index >= self.max_retries:
            return None
        hinted = error.retry_after_s
        if hinted is not None and hinted >= 0:
            if hinted > self.retry_after_max:
                return None  # the server asks for longer than we wait: fall back instead
            return hinted
        return self.backoff(retry_index)


def falls_back(error: BaseException) -> bool:
    """True when the next target of the chain may succeed where this one failed."""
    return isinstance(error, ProviderError) and error.fallbackable


def counts_as_failure(error: BaseException) -> bool:
    """True when ``error`` says something about the target's health (for the circuit breaker)."""
    return isinstance(error, ProviderError) and not isinstance(error, _REQUEST_SPECIFIC)


__all__ = ["RetryPolicy", "falls_back", "counts_as_failure"]
