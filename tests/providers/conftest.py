"""The hostile recorder provider tests talk to (the LLM test server is ``llm_server`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tierflow.testing import RecordingServer


@pytest.fixture
async def recorder() -> AsyncIterator[RecordingServer]:
    async with RecordingServer() as server:
        yield server
