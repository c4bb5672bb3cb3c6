"""The SSE parser follows the specification's line rules, in time linear in the stream.

Unit tests feed :class:`SSEParser` bytes split at every possible point (the rules must not depend on
where the network cuts a chunk); one end-to-end test reads a hand-written event stream from the
loopback server through a provider. Linearity is checked by counting the parser's work, not by
timing (``bench/bench_sse.py`` times it).
"""

from __future__ import annotations

import pytest

from tierflow.providers._sse import SSEParser
from tierflow.providers.base import ProviderSettings, Timeouts, create_provider
from tierflow.testing import Garbage, LLMTestServer
from tierflow.types import ChatRequest


def parse(stream: bytes, chunk: int | None = None) -> list[tuple[str, str]]:
    parser = SSEParser()
    events: list[tuple[str, str]] = []
    step = chunk or max(1, len(stream))
    for i in range(0, len(stream), step):
        events += parser.feed(stream[i:i + step])
    return events + parser.close()


def every_split(stream: bytes) -> list[list[tuple[str, str]]]:
    """The events of ``stream`` fed whole, byte by byte, and cut in two at every position."""
    results = [parse(stream), parse(stream, 1)]
    for cut in range(1, len(stream)):
        parser = SSEParser()
        results.append(parser.feed(stream[:cut]) + parser.feed(stream[cut:]) + parser.close())
    return results


CASES = {
    "lf": (b"data: a\n\ndata: b\n\n", [("message", "a"), ("message", "b")]),
    "crlf": (b"data: a\r\n\r\ndata: b\r\n\r\n", [("message", "a"), ("message", "b")]),
    "cr only": (b"data: a\r\rdata: b\r\r", [("message", "a"), ("message", "b")]),
    "mixed endings": (b"data: a\r\n\ndata: b\r\rdata: c\n\r\n", [("message", "a"), ("message", "b"), ("message", "c")]),
    "bom": (b"\xef\xbb\xbfdata: first\n\n", [("message", "first")]),
    "bom then cr": (b"\xef\xbb\xbfevent: x\rdata: 1\r\r", [("x", "1")]),
    "data without colon": (b"data\n\n", [("message", "")]),
    "data without colon joins": (b"data: a\ndata\ndata: b\n\n", [("message", "a\n\nb")]),
    "multi-line data": (b"data: one\ndata: two\ndata:three\n\n", [("message", "one\ntwo\nthree")]),
    "one space dropped": (b"data:  two spaces\n\n", [("message", " two spaces")]),
    "comments": (b": keep-alive\n:\ndata: x\n: another\n\n", [("message", "x")]),
    "event name": (b"event: message_stop\ndata: {}\n\n", [("message_stop", "{}")]),
    "no data, no event": (b"event: ping\n\nid: 3\nretry: 10\n\n", []),
    "unknown fields ignored": (b"foo: bar\ndata: y\nid\n\n", [("message", "y")]),
    "event resets": (b"event: a\ndata: 1\n\ndata: 2\n\n", [("a", "1"), ("message", "2")]),
    "utf-8 split": ("data: héllo ✓\n\n".encode(), [("message", "héllo ✓")]),
    "pending at end": (b"data: tail", [("message", "tail")]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_line_rules_hold_wherever_the_chunks_are_cut(name: str) -> None:
    stream, expected = CASES[name]
    for events in every_split(stream):
        assert events == expected


def test_a_bom_is_only_skipped_at_the_start() -> None:
    assert parse(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [("message", "a")]  # a later BOM makes an unknown field


@pytest.mark.parametrize("size", [1 << 20, 8 << 20])
@pytest.mark.parametrize("chunk", [1024, 65536])
def test_a_long_line_is_parsed_in_linear_work(size: int, chunk: int) -> None:
    payload = b"x" * size
    stream = b"data: " + payload + b"\n\n"
    parser = SSEParser()
    events = []
    for i in range(0, len(stream), chunk):
        events += parser.feed(stream[i:i + chunk])
    assert events == [("message", payload.decode())]
    # each byte is scanned once and joined once: quadratic buffering would do size**2 / chunk
    assert parser.work <= 2 * len(stream) + chunk


def test_many_small_events_are_linear_too() -> None:
    stream = b"data: {}\r\n\r\n" * 100_000
    parser = SSEParser()
    count = 0
    for i in range(0, len(stream), 7):
        count += len(parser.feed(stream[i:i + 7]))
    assert count == 100_000 and parser.work <= 2 * len(stream)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
async def test_a_provider_reads_any_line_ending_and_a_bom(ending: bytes, llm_server: LLMTestServer) -> None:
    events = [b'data: {"choices":[{"delta":{"content":"Hel"}}]}', b"", b': comment',
              b'data: {"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],',
              b'data: "usage":{"prompt_tokens":3,"completion_tokens":2}}', b"", b"data: [DONE]", b""]
    body = "\ufeff" + ending.join(events).decode() + ending.decode()
    llm_server.script("m", [Garbage(body, content_type="text/event-stream")])
    provider = create_provider("p", ProviderSettings(kind="openai", base_url=llm_server.base_url))
    try:
        chunks = [c async for c in provider.stream(ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}]),
                                                   timeouts=Timeouts(total=5))]
    finally:
        await provider.aclose()
    # without the BOM rule the first event is lost; without CR the whole stream is one line
    assert "".join(c.text for c in chunks) == "Hello"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1 and (usage[0].input_tokens, usage[0].output_tokens, usage[0].estimated) == (3, 2, False)
