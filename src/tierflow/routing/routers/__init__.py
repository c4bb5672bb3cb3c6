"""Router kinds: the plug-in interface (:mod:`.base`) and the built-in kinds, registered on import.

=========== ============================================= ====================================================
kind        module                                        what it learns
=========== ============================================= ====================================================
``knn``     :mod:`tierflow.routing.routers.knn`           mean outcomes of the k nearest training prompts
``cluster`` :mod:`tierflow.routing.routers.predictors`    k-means clusters, per-cluster quality and cost
``linear``  :mod:`tierflow.routing.routers.predictors`    a logistic success predictor per model
``task``    :mod:`tierflow.routing.routers.predictors`    per-task means (nearest task centroid when unlabelled)
``blend``   :mod:`tierflow.routing.routers.blend`         the mean prediction of knn, cluster, linear and task
``cascade`` :mod:`tierflow.routing.routers.cascade`       cheap models first; a learned estimator stops the chain
=========== ============================================= ====================================================

The first five are pre-routers (:class:`~tierflow.routing.routers.base.PredictiveRouter`): one
model per prompt, by ``argmax(quality - knob * cost / cost_unit)``. The README ("Learned routing")
has the same table. Another package adds a kind by subclassing
:class:`~tierflow.routing.routers.base.LearnedRouter` and decorating it with :func:`register_router`
(the interface is documented in :mod:`tierflow.routing.routers.base`); ``route fit --kind`` and
router files then know it by its ``kind``.
"""

from __future__ import annotations

from tierflow.routing.routers.base import (
    LAMBDA_GRID,
    Decision,
    LearnedRouter,
    PredictiveRouter,
    Step,
    register_router,
    router_class,
    router_kinds,
)
from tierflow.routing.routers.blend import BlendRouter
from tierflow.routing.routers.cascade import CascadeRouter
from tierflow.routing.routers.knn import KNNRouter
from tierflow.routing.routers.predictors import ClusterRouter, LinearRouter, TaskRouter

BUILTIN_KINDS = ("knn", "cluster", "linear", "task", "blend", "cascade")

__all__ = ["BUILTIN_KINDS", "LAMBDA_GRID", "BlendRouter", "CascadeRouter", "ClusterRouter", "Decision", "KNNRouter",
           "LearnedRouter", "LinearRouter", "PredictiveRouter", "Step", "TaskRouter", "register_router",
           "router_class", "router_kinds"]
