"""The loopback servers provider tests talk to: the LLM test server, and a hostile recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tierflow.testing import LLMTestServer, RecordingServer


@pytest.fixture
async def srv() -> AsyncIterator[LLMTestServer]:
    async with LLMTestServer() as server:
        yield server


@pytest.fixture
async def recorder() -> AsyncIterator[RecordingServer]:
    async with RecordingServer() as server:
        yield server
