"""The ``blend`` router: the mean of several pre-routers' predictions.

Each pre-router errs in its own way: kNN is noisy where neighbours are few, clusters and tasks
are coarse, the linear predictor is smooth but misses local structure. Averaging their predicted
quality and cost per model (then trading them off with the one knob, as every pre-router does)
cancels part of those errors. On dev splits inside the training parts of five tables it had the
best mean rank of the pre-routers and was never last, where each of its parts was last on at
least one (``bench/route_kinds.py``). ``kind="auto"`` weighs it against the others per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tierflow.errors import Problem, RoutingError
from tierflow.routing.data.outcomes import OutcomeTable
from tierflow.routing.routers.base import PredictiveRouter, register_router, router_class

DEFAULT_PARTS = ("knn", "cluster", "linear", "task")


@register_router
class BlendRouter(PredictiveRouter):
    """Mean predicted quality and cost of ``parts`` (default: knn, cluster, linear and task).

    ``--param parts=knn,task`` chooses the parts; every other parameter is passed to each part
    (``k`` reaches knn, ``clusters`` the cluster router, ``C`` the linear one).
    """

    kind = "blend"

    def _part_kinds(self) -> list[str]:
        raw = self.params.get("parts", ",".join(DEFAULT_PARTS))
        kinds = [k.strip() for k in str(raw).split(",") if k.strip()]
        bad = [k for k in kinds if k in ("blend", "cascade") or not issubclass(router_class(k), PredictiveRouter)]
        if not kinds or bad:
            raise RoutingError([Problem("params.parts", f"{raw!r}: expected a comma-separated list of pre-router "
                                                        f"kinds, such as {','.join(DEFAULT_PARTS)}")])
        return kinds

    def _new_part(self, kind: str) -> PredictiveRouter:
        part = router_class(kind)(**{k: v for k, v in self.params.items() if k != "parts"})
        part.models, part.strong = self.models, self.strong
        part.prefixes, part.suffixes = self.prefixes, self.suffixes
        return part  # type: ignore[return-value]

    def fit(self, table: OutcomeTable, emb: np.ndarray) -> BlendRouter:
        self.fit_common(table)
        self.parts = [self._new_part(k) for k in self._part_kinds()]
        for part in self.parts:
            part.fit(table, emb)
        return self

    def predict(self, emb: np.ndarray, tasks: Sequence[str] | None = None,
                texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        qs, cs = zip(*(p.predict(emb, tasks, texts) for p in self.parts))
        return np.mean(qs, axis=0), np.mean(cs, axis=0)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta: dict[str, Any] = {"cost_unit": self.cost_unit, "parts": {}}
        arrays: dict[str, np.ndarray] = {}
        for part in self.parts:
            part_meta, part_arrays = part.state()
            meta["parts"][part.kind] = part_meta
            arrays.update({f"{part.kind}.{name}": a for name, a in part_arrays.items()})
        return meta, arrays

    def load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.cost_unit = float(meta["cost_unit"])
        self.parts = []
        for kind, part_meta in meta["parts"].items():
            part = self._new_part(kind)
            prefix = kind + "."
            part.load_state(part_meta, {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)})
            self.parts.append(part)
