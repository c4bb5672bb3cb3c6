"""Running the gateway: what counts as loopback (beyond it, every request needs a key)."""

from __future__ import annotations

import pytest

from tierflow.gateway.server import is_loopback


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.0.0.5", True), ("::1", True),
                                                 ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                 ("10.1.2.3", False), ("gateway.internal", False)])
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
