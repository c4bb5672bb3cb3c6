"""``Engine.run`` keywords are run inputs the graph reads; anything else is refused by name
(:class:`tierflow.errors.RunKeywordError`, a TierflowError and a TypeError)."""

from __future__ import annotations

import pytest

from tierflow.engine import Engine
from tierflow.errors import TierflowError
from tierflow.graph import END, PARENT, START, CodeNode, GraphNode


def echo(query: str, tone: str | None = None) -> dict[str, str]:
    return {"answer": f"{tone or 'plain'}: {query}"}


@pytest.fixture
def engine() -> Engine:
    with GraphNode(name="echo") as g:
        node = CodeNode("echo", echo, inputs={"query": PARENT["query"], "tone": PARENT["tone"]},
                        outputs={"answer": "answer"})
        START >> node >> END
    return Engine(g)


async def test_keywords_naming_inputs_still_work(engine: Engine) -> None:
    assert (await engine.run(query="q", tone="warm"))["answer"] == "warm: q"
    assert (await engine.run(inputs={"query": "q"}, tone="dry"))["answer"] == "dry: q"


async def test_a_tracer_that_is_not_a_tracer_is_refused_by_type(engine: Engine) -> None:
    with pytest.raises(TypeError, match="tracer= takes a tierflow.tracing.Tracer"):
        await engine.run(inputs={"query": "q", "tone": "x"}, tracer=object())


async def test_a_misspelt_keyword_gets_a_suggestion(engine: Engine) -> None:
    with pytest.raises(TierflowError, match=r"qurey=: did you mean query=\?"):
        await engine.run(qurey="q", tone="x")


def test_run_sync_checks_keywords_too(engine: Engine) -> None:
    with pytest.raises(TierflowError, match="tnoe="):
        engine.run_sync({"query": "q"}, tnoe="warm")
