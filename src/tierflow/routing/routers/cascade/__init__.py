"""The ``cascade`` router kind: consult cheap models first, escalate when a learned estimator is unsure.

:mod:`.router` holds the router (prompt groups, options per group, live steps); :mod:`.chain` one
chain's stages, estimators and simulated operating points; :mod:`.features` what the estimator
reads after each stage; :mod:`.groups` which prompts share a chain; :mod:`.vote` the weighted vote
over consulted models' answers.
"""

from __future__ import annotations

from tierflow.routing.routers.cascade.chain import FINAL_SAY, THRESHOLDS
from tierflow.routing.routers.cascade.router import AUTO_VOTE_MARGIN, CascadeRouter

__all__ = ["AUTO_VOTE_MARGIN", "FINAL_SAY", "THRESHOLDS", "CascadeRouter"]
