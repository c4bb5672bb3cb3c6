"""The engine's semantics, shape by shape (see the tierflow.engine docstring)."""

from __future__ import annotations

import asyncio

import pytest

from tierflow.engine import Engine
from tierflow.errors import NodeExecutionError, RunInputError
from tierflow.graph import END, PARENT, START, Branch, CodeNode, GraphNode, PromptNode


def _chain(n: int) -> GraphNode:
    with GraphNode(name="chain") as g:
        prev = START
        nodes: list[CodeNode] = []
        for i in range(n):
            src = PARENT["x"] if i == 0 else nodes[-1]["x"]
            node = CodeNode(name=f"n{i}", code_fn=lambda x: {"x": x + 1}, inputs={"x": src})
            nodes.append(node)
            prev = prev >> node
        nodes[-1]["x"] >> PARENT["out"]
        prev >> END
    return g


async def test_chain_passes_values_in_order() -> None:
    result = await Engine(_chain(10)).run(inputs={"x": 5})
    assert result["out"] == 15
    assert [r.status for r in result.nodes.values()] == ["ok"] * 10


def test_run_sync_and_keyword_inputs() -> None:
    result = Engine(_chain(3)).run_sync(x=1)
    assert dict(result) == {"out": 4}


async def test_independent_async_nodes_run_concurrently() -> None:
    events: list[str] = []
    gate = asyncio.Event()

    async def first() -> dict:
        events.append("first started")
        await asyncio.wait_for(gate.wait(), timeout=5)  # only the second node can open it
        events.append("first done")
        return {"v": 1}

    async def second() -> dict:
        events.append("second started")
        gate.set()
        return {"v": 2}

    with GraphNode(name="par") as g:
        a = CodeNode(name="a", code_fn=first)
        b = CodeNode(name="b", code_fn=second)
        join = CodeNode(name="join", code_fn=lambda x, y: {"sum": x + y},
                        inputs={"x": a["v"], "y": b["v"]}, outputs={"*": PARENT})
        START >> [a, b] >> join >> END
    result = await Engine(g).run()
    assert result["sum"] == 3
    assert events.index("second started") < events.index("first done")


async def test_hard_join_waits_for_all_predecessors() -> None:
    order: list[str] = []

    async def slow(tag: str, delay: float) -> dict:
        await asyncio.sleep(delay)
        order.append(tag)
        return {"v": tag}

    with GraphNode(name="fanin") as g:
        a = CodeNode(name="a", code_fn=lambda: slow("a", 0.03))
        b = CodeNode(name="b", code_fn=lambda: slow("b", 0.0))
        join = CodeNode(name="join", code_fn=lambda x, y: order.append("join") or {"r": x + y},
                        inputs={"x": a["v"], "y": b["v"]}, outputs={"r": PARENT})
        START >> [a, b] >> join >> END
    result = await Engine(g).run()
    assert result["r"] == "ab"
    assert order == ["b", "a", "join"]


def _branchy(soft: bool = True) -> tuple[GraphNode, list[str]]:
    ran: list[str] = []

    def mark(tag: str):
        return lambda **kw: ran.append(tag) or {"v": tag}

    with GraphNode(name="branchy") as g:
        router = Branch("router").if_(PARENT["n"] > 10, "big").otherwise("small")
        big = CodeNode(name="big", code_fn=mark("big"))
        big2 = CodeNode(name="big2", code_fn=mark("big2"), inputs={"x": big["v"]})
        small = CodeNode(name="small", code_fn=mark("small"))
        merge = CodeNode(name="merge", code_fn=lambda b=None, s=None: ran.append("merge") or
                         {"b": b, "s": s}, inputs={"b": big2["v"], "s": small["v"]},
                         outputs={"*": PARENT})
        START >> router >> [big, small]
        big >> big2
        [big2, small] >> (~merge if soft else merge)
        merge >> END
    return g, ran


async def test_soft_join_fires_once_for_taken_branch_and_untaken_reads_none() -> None:
    g, ran = _branchy()
    engine = Engine(g)
    result = await engine.run(inputs={"n": 50})
    assert ran == ["big", "big2", "merge"]
    assert dict(result) == {"b": "big2", "s": None}
    assert result.nodes["small"].status == "skipped"
    ran.clear()
    result = await engine.run(inputs={"n": 1})
    assert ran == ["small", "merge"]
    assert result.nodes["big"].status == result.nodes["big2"].status == "skipped"


async def test_soft_join_of_two_live_predecessors_fires_once_after_both() -> None:
    calls: list[tuple] = []

    async def late() -> dict:
        await asyncio.sleep(0.02)
        return {"v": "late"}

    with GraphNode(name="softboth") as g:
        a = CodeNode(name="a", code_fn=late)
        b = CodeNode(name="b", code_fn=lambda: {"v": "early"})
        m = CodeNode(name="m", code_fn=lambda x=None, y=None: calls.append((x, y)) or {},
                     inputs={"x": a["v"], "y": b["v"]})
        START >> [a, b]
        [a, b] >> ~m
        m >> END
    await Engine(g).run()
    assert calls == [("late", "early")]


async def test_branch_with_no_match_and_no_otherwise_skips_everything_after() -> None:
    with GraphNode(name="nomatch") as g:
        r = Branch("r").if_(PARENT["x"] == 1, "one")
        one = CodeNode(name="one", code_fn=lambda: {"v": 1}, outputs={"v": PARENT})
        START >> r >> one >> END
    result = await Engine(g).run(inputs={"x": 2})
    assert result.nodes["one"].status == "skipped"
    assert result["v"] is None


async def test_hard_edge_from_untaken_arm_skips_the_node() -> None:
    with GraphNode(name="hardskip") as g:
        r = Branch("r").if_(PARENT["go"].truthy(), "a").otherwise("b")
        a = CodeNode(name="a", code_fn=lambda: {"v": 1})
        after = CodeNode(name="after", code_fn=lambda: {"done": True}, outputs={"done": PARENT})
        b = CodeNode(name="b", code_fn=lambda: {"v": 2})
        START >> r >> [a, b]
        a >> after >> END
        b >> END
    result = await Engine(g).run(inputs={"go": False})
    assert result.nodes["after"].status == "skipped"
    assert result["done"] is None
    assert (await Engine(g).run(inputs={"go": True}))["done"] is True


async def test_failing_node_names_node_keeps_cause_and_cancels_others() -> None:
    cancelled = asyncio.Event()

    async def slow() -> dict:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return {}

    async def boom() -> dict:
        await asyncio.sleep(0)
        raise ZeroDivisionError("bad divide")

    with GraphNode(name="fails") as g:
        a = CodeNode(name="slow", code_fn=slow)
        b = CodeNode(name="boom", code_fn=boom)
        START >> [a, b] >> END
    with pytest.raises(NodeExecutionError) as info:
        await Engine(g).run()
    assert info.value.node == "boom"
    assert "boom" in str(info.value) and "bad divide" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert info.value.__cause__.__traceback__ is not None
    assert cancelled.is_set()


async def test_sync_node_failure_is_named() -> None:
    with GraphNode(name="syncfail") as g:
        a = CodeNode(name="parse", code_fn=lambda s: {"n": int(s)}, inputs={"s": PARENT["s"]})
        START >> a >> END
    with pytest.raises(NodeExecutionError, match="parse") as info:
        await Engine(g).run(inputs={"s": "x"})
    assert isinstance(info.value.__cause__, ValueError)


async def test_on_error_fallback_lets_the_run_continue() -> None:
    with GraphNode(name="fallback") as g:
        a = CodeNode(name="risky", code_fn=lambda: 1 / 0, on_error=lambda exc: {"v": type(exc).__name__})
        b = CodeNode(name="fixed", code_fn=lambda: 1 / 0, on_error={"w": 0})
        out = CodeNode(name="out", code_fn=lambda v, w: {"v": v, "w": w},
                       inputs={"v": a["v"], "w": b["w"]}, outputs={"*": PARENT})
        START >> [a, b] >> out >> END
    result = await Engine(g).run()
    assert dict(result) == {"v": "ZeroDivisionError", "w": 0}
    assert result.nodes["risky"].status == "fallback"
    assert "ZeroDivisionError" in (result.nodes["risky"].error or "")


async def test_missing_run_input_fails_before_running() -> None:
    ran: list[str] = []
    with GraphNode(name="needs") as g:
        a = CodeNode(name="a", code_fn=lambda q: ran.append(q) or {}, inputs={"q": PARENT["query"]})
        START >> a >> END
    with pytest.raises(RunInputError, match="query") as info:
        await Engine(g).run(inputs={"qeury": "typo"})
    assert "'a'" in str(info.value)
    assert ran == []


async def test_reading_a_key_the_producer_did_not_return_fails_by_name() -> None:
    with GraphNode(name="keys") as g:
        a = CodeNode(name="a", code_fn=lambda: {"x": 1})
        b = CodeNode(name="b", code_fn=lambda y: {}, inputs={"y": a["y"]})
        START >> a >> b >> END
    with pytest.raises(NodeExecutionError) as info:
        await Engine(g).run()
    assert info.value.node == "b" and "'y'" in str(info.value) and "['x']" in str(info.value)


async def test_non_dict_return_becomes_result_output() -> None:
    with GraphNode(name="scalar") as g:
        a = CodeNode(name="a", code_fn=lambda: "text", outputs={"*": PARENT})
        START >> a >> END
    assert dict(await Engine(g).run()) == {"result": "text"}


async def test_reducer_combines_writers() -> None:
    with GraphNode(name="reduce", reducers={"items": "append", "total": "sum"}) as g:
        nodes = [CodeNode(name=f"w{i}", code_fn=(lambda i=i: {"v": i}),
                          outputs={"v": PARENT["items"]}) for i in range(3)]
        tot = [CodeNode(name=f"t{i}", code_fn=(lambda i=i: {"v": i}),
                        outputs={"v": PARENT["total"]}) for i in range(3)]
        START >> nodes >> END
        START >> tot >> END
    result = await Engine(g).run()
    assert sorted(result["items"]) == [0, 1, 2]
    assert result["total"] == 3


async def test_prompt_node_renders_messages_and_keeps_literal_braces() -> None:
    with GraphNode(name="prompt") as g:
        p = PromptNode(name="p", inputs={"prompt": {"system": "Reply as JSON {\"a\": 1}.",
                                                    "user": "Q: {query}"}, "query": PARENT["q"]},
                       outputs={"messages": PARENT})
        START >> p >> END
    result = await Engine(g).run(inputs={"q": "why?"})
    assert result["messages"] == [{"role": "system", "content": "Reply as JSON {\"a\": 1}."},
                                  {"role": "user", "content": "Q: why?"}]


async def test_nested_refs_in_container_inputs() -> None:
    with GraphNode(name="nested") as g:
        a = CodeNode(name="a", code_fn=lambda: {"x": 1})
        b = CodeNode(name="b", code_fn=lambda: {"y": 2})
        c = CodeNode(name="c", code_fn=lambda items, cfg: {"out": [*items, cfg["k"], cfg["lit"]]},
                     inputs={"items": [a["x"], b["y"]], "cfg": {"k": PARENT["k"], "lit": 9}},
                     outputs={"out": PARENT})
        START >> [a, b] >> c >> END
    assert (await Engine(g).run(inputs={"k": 3}))["out"] == [1, 2, 3, 9]


async def test_async_chain_without_tasks_and_records() -> None:
    async def inc(x: int) -> dict:
        await asyncio.sleep(0)
        return {"x": x + 1}

    with GraphNode(name="achain") as g:
        a = CodeNode(name="a", code_fn=inc, inputs={"x": PARENT["x"]})
        b = CodeNode(name="b", code_fn=inc, inputs={"x": a["x"]}, outputs={"x": PARENT})
        START >> a >> b >> END
    result = await Engine(g).run(inputs={"x": 0})
    assert result["x"] == 2
    assert result.nodes["b"].duration_s >= 0 and result.nodes["b"].status == "ok"
    assert result.cost_usd == 0.0 and result.tokens == 0
