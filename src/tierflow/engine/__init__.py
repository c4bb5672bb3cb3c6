"""The tierflow engine: runs a graph (Python API) or an IR module (flow files) on asyncio.

Semantics (each rule has a test in tests/engine/test_semantics.py):

- **Ready**: a node runs once every edge into it is resolved. An edge is *live* when its source
  ran (for a branch: only the edge to the chosen target, plus edges to nodes no case names) and
  *dead* when its source was skipped, or is a branch that chose another target.
- **Concurrency**: independent nodes run concurrently. Nodes that wait (LLM calls, async
  functions, patterns) run as asyncio Tasks side by side; synchronous nodes run inline.
- **Hard join** (plain ``[a, b] >> n``): ``n`` waits for all its predecessors and runs only if
  every hard edge is live; if one is dead, ``n`` is skipped.
- **Soft join** (``[a, b] >> ~n``): ``n`` fires once, after every predecessor has resolved, if
  at least one soft edge is live, i.e. when the taken branch reaches it; never early, never twice.
- **Skipping**: nodes on arms not taken are skipped, not run; their outputs read as ``None``
  (so a merge reads ``None`` for the branch that did not run). Skips propagate downstream.
- **Branch**: cases are tested in order, the first true one wins, else ``otherwise``; with no
  match and no ``otherwise`` every case target is skipped.
- **Failure**: a node that raises fails the run with :class:`~tierflow.errors.NodeExecutionError`
  naming the node, the original exception as ``__cause__`` (traceback kept), and every other
  in-flight node cancelled, unless the node declares ``on_error`` (a function of the error
  returning outputs, or fixed outputs): then the run goes on, the node's status is ``fallback``.
  An LLM node's ``fallback=[roles]`` is handled by the call layer before the node fails.
- **Outputs**: a node's ``outputs`` map its keys to run outputs (``{"*": PARENT}`` forwards
  all). Names mapped explicitly start as ``None``. Several writers of one name need a reducer
  (``module.meta["reducers"]`` / ``GraphNode(reducers=...)``) unless they are on exclusive arms.
- **Inputs**: ``PARENT["x"]`` reads run input ``x``; a missing one is a RunInputError before any
  node runs. Keyword arguments of ``run()`` are inputs too, only those the graph reads (and ``tracer=``,
  docs/tracing.md): any other (a typo) is a RunKeywordError. A node that reads a key its (completed) producer
  did not return fails by name.
"""

from tierflow.engine.engine import Engine, Hush
from tierflow.engine.plan import ExecutionPlan, compile_plan
from tierflow.engine.result import NodeRecord, RunResult

__all__ = ["Engine", "ExecutionPlan", "Hush", "NodeRecord", "RunResult", "compile_plan"]
