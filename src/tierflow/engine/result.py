"""What a run returns: the run outputs (a mapping) plus a record per node.

Records are built lazily from the run's flat arrays, so a run that nobody inspects pays nothing
for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierflow.engine.plan import ExecutionPlan

NodeStatus = str
"""``"ok"``, ``"skipped"`` (on an arm not taken), ``"fallback"`` (failed; its ``on_error``
answered), ``"failed"``, ``"cancelled"`` (stopped because another node failed) or
``"not_run"``."""


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node of one run: how it ended, how long it took and, for model calls, what it cost."""

    node: str
    kind: str
    status: NodeStatus
    duration_s: float
    model_used: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error: str | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def duration_ms(self) -> float:
        return self.duration_s * 1000.0


def _record(plan: ExecutionPlan, i: int, status: str, duration: float, out: Any, error: str | None) -> NodeRecord:
    model, tin, tout, cost = None, 0, 0, None
    if isinstance(out, Mapping) and plan.kinds[i] in ("llm", "pattern"):
        model = out.get("model_used")
        usage = out.get("usage")
        if usage is not None:
            tin = getattr(usage, "input_tokens", 0) or 0
            tout = getattr(usage, "output_tokens", 0) or 0
        cost = out.get("cost_usd")
    return NodeRecord(plan.ids[i], plan.kinds[i], status, duration, model, tin, tout, cost, error)


class RunResult(Mapping[str, Any]):
    """The run outputs as a read-only mapping (``result["response"]``), plus per-node records.

    ``nodes``: node id -> :class:`NodeRecord` (START/END excluded); ``cost_usd`` / ``tokens``:
    totals over model-calling nodes (``cost_usd`` is None if any call's price is unknown);
    ``duration_s``: wall time of the run; ``values``: every node's outputs (None if skipped).
    """

    __slots__ = (
        "_durations",
        "_errors",
        "_nodes",
        "_plan",
        "_status",
        "_values",
        "duration_s",
        "outputs",
    )

    def __init__(self, outputs: dict[str, Any], plan: ExecutionPlan, values: list[Any], status: list[str],
                 durations: list[float], errors: dict[int, str] | None, duration_s: float) -> None:
        self.outputs = outputs
        self.duration_s = duration_s
        self._plan = plan
        self._values = values
        self._status = status
        self._durations = durations
        self._errors = errors
        self._nodes: dict[str, NodeRecord] | None = None

    def __getitem__(self, key: str) -> Any:
        return self.outputs[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    def __repr__(self) -> str:
        return f"RunResult({self.outputs!r})"

    @property
    def nodes(self) -> dict[str, NodeRecord]:
        if self._nodes is None:
            plan, errors = self._plan, self._errors or {}
            self._nodes = {
                plan.ids[i]: _record(plan, i, self._status[i], self._durations[i], self._values[i],
                                     errors.get(i))
                for i in range(len(plan.ids)) if i not in (plan.start, plan.end)}
        return self._nodes

    @property
    def node_outputs(self) -> dict[str, Any]:
        """Every node's outputs by node id (``None`` for skipped nodes); ``values()`` is the run
        outputs' values, as for any mapping."""
        plan = self._plan
        return {plan.ids[i]: self._values[i] for i in range(len(plan.ids))
                if i not in (plan.start, plan.end)}

    @property
    def cost_usd(self) -> float | None:
        costs = [r.cost_usd for r in self.nodes.values() if r.model_used is not None]
        return None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.nodes.values())

    @property
    def models_used(self) -> list[str]:
        return list(dict.fromkeys(r.model_used for r in self.nodes.values() if r.model_used))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary: outputs (as given) and the node records."""
        return {"outputs": self.outputs, "duration_s": self.duration_s, "cost_usd": self.cost_usd,
                "nodes": {k: asdict(r) for k, r in self.nodes.items()}}


__all__ = ["NodeRecord", "NodeStatus", "RunResult"]
