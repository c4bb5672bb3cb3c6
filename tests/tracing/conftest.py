"""A recording tracer for the tracing tests (a real Tracer subclass, not a mock)."""

from __future__ import annotations

from typing import Any

import pytest

from tierflow.tracing import Tracer


class Recorder(Tracer):
    """Keeps every event with the span it happened in."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple[Any, str | None]] = []

    def handle(self, event: Any, parent_id: str | None) -> None:
        self.events.append((event, parent_id))

    def names(self) -> list[str]:
        return [type(e).__name__ for e, _ in self.events]

    def of(self, kind: type) -> list[tuple[Any, str | None]]:
        return [(e, p) for e, p in self.events if isinstance(e, kind)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
