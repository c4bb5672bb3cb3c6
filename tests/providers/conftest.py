"""The loopback LLM test server every HTTP provider test talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tierflow.testing import LLMTestServer


@pytest.fixture
async def srv() -> AsyncIterator[LLMTestServer]:
    async with LLMTestServer() as server:
        yield server
