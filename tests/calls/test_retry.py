"""Retry decisions and backoff (OpenAI SDK defaults)."""

from __future__ import annotations

import random

import pytest

from tierflow.calls.retry import RetryPolicy, counts_as_failure, falls_back
from tierflow.config import ReliabilitySettings
from tierflow.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    StreamInterruptedError,
    UnprocessableEntityError,
)


def test_backoff_doubles_and_caps_with_jitter_below_base() -> None:
    policy = RetryPolicy(max_retries=10, initial=0.5, maximum=8.0, jitter=0.25, rng=random.Random(1))
    for n, base in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0]):
        wait = policy.backoff(n)
        assert base * 0.75 <= wait <= base


def test_no_jitter_is_exact() -> None:
    policy = RetryPolicy(initial=0.1, maximum=1.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.0]


@pytest.mark.parametrize("error", [RateLimitError("x"), ServerError("x"), APITimeoutError("x"),
                                   APIConnectionError("x"), ResponseFormatError("x")])
def test_retryable_errors_retried_until_max(error: Exception) -> None:
    policy = RetryPolicy(max_retries=2, jitter=0.0)
    assert policy.wait_before_retry(error, 0) == 0.5  # type: ignore[arg-type]
    assert policy.wait_before_retry(error, 1) == 1.0  # type: ignore[arg-type]
    assert policy.wait_before_retry(error, 2) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [BadRequestError("x"), AuthenticationError("x"), NotFoundError("x"),
                                   UnprocessableEntityError("x"), StreamInterruptedError("x")])
def test_non_retryable_errors(error: Exception) -> None:
    assert RetryPolicy().wait_before_retry(error, 0) is None  # type: ignore[arg-type]


def test_retry_after_replaces_backoff_up_to_cap() -> None:
    policy = RetryPolicy(retry_after_max=60)
    assert policy.wait_before_retry(RateLimitError("x", retry_after_s=2.5), 0) == 2.5
    assert policy.wait_before_retry(RateLimitError("x", retry_after_s=0.0), 0) == 0.0
    assert policy.wait_before_retry(RateLimitError("x", retry_after_s=61), 0) is None


def test_fallback_and_breaker_classification() -> None:
    assert falls_back(AuthenticationError("x")) and falls_back(ServerError("x")) and falls_back(BadRequestError("x"))
    assert not falls_back(StreamInterruptedError("x")) and not falls_back(ValueError("bug"))
    assert counts_as_failure(ServerError("x")) and counts_as_failure(AuthenticationError("x"))
    assert not counts_as_failure(BadRequestError("x")) and not counts_as_failure(UnprocessableEntityError("x"))
    assert not counts_as_failure(KeyError("bug"))


def test_the_defaults_are_the_documented_ones() -> None:
    policy = RetryPolicy()
    settings = ReliabilitySettings()
    assert (policy.max_retries, policy.initial, policy.maximum, policy.jitter, policy.retry_after_max) == (
        settings.max_retries, settings.backoff_initial_s, settings.backoff_max_s, settings.jitter,
        settings.retry_after_max_s) == (2, 0.5, 8.0, 0.25, 60.0)


def test_a_retry_after_of_exactly_the_cap_is_waited_for() -> None:
    assert RetryPolicy(retry_after_max=60).wait_before_retry(RateLimitError("x", retry_after_s=60.0), 0) == 60.0
