"""Baselines on tables whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tierflow.routing.fit.baselines import oracle_points


def test_oracle_points_reach_full_quality(two_topic):
    pts = oracle_points(two_topic, strong_col=1)
    q, c, _ = pts.means()
    assert q.max() == 1.0
    assert c[np.argmax(q)] == pytest.approx(5.5e-4)
