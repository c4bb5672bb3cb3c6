"""The CLI tests' loopback LLM server: one per test module, on its own thread (the commands run
synchronously, in this process or a child one); a test's config fixture resets it first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tierflow.testing import LLMTestServer


@pytest.fixture(scope="module")
def srv() -> Iterator[LLMTestServer]:
    server = LLMTestServer.start_in_thread()
    yield server
    server.stop()
