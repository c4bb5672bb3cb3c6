"""SSE parsing time against stream size: linear, as the parser claims (``providers/_sse.py``).

    PYTHONPATH=src .venv/bin/python bench/bench_sse.py [--repeat 5]

Feeds the parser one ``data:`` line of 1 MB and of 8 MB in ``--chunk`` byte pieces (what
``iter_any`` hands over varies with the network; 1 KiB by default) and, measured in the same run,
two references: the minimum any reader does with those chunks (collect and join them), and the
``buf += chunk`` loop the parser replaced. Reports the best time of ``--repeat`` runs and:

- parser / join at each size: flat if the parser is linear;
- 8 MB / 1 MB time of each: about 8 when linear, about 64 when quadratic.

It also parses 200,000 small events (about 2.6 MB) to show the per-event cost.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from tierflow.providers._sse import SSEParser


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def _parse(chunks: list[bytes]) -> int:
    parser = SSEParser()
    n = 0
    for chunk in chunks:
        n += len(parser.feed(chunk))
    return n + len(parser.close())


def _baseline(chunks: list[bytes]) -> int:
    parts = list(chunks)
    return len(b"".join(parts))


def _replaced(chunks: list[bytes]) -> int:
    """The line splitting of the parser this one replaced (quadratic in a long line)."""
    buf, lines = b"", 0
    for chunk in chunks:
        buf += chunk
        if b"\n" not in chunk:
            continue
        *done, buf = buf.split(b"\n")
        lines += len(done)
    return lines


def _best(fn: Callable[[list[bytes]], int], chunks: list[bytes], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(chunks)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=1024, help="bytes per chunk fed (default 1024)")
    args = ap.parse_args()
    times: dict[str, dict[int, float]] = {"parser": {}, "join": {}, "replaced": {}}
    for mb in (1, 8):
        chunks = _chunks(b"data: " + b"x" * (mb << 20) + b"\n\n", args.chunk)
        for name, fn in (("parser", _parse), ("join", _baseline), ("replaced", _replaced)):
            times[name][mb] = _best(fn, chunks, args.repeat if name != "replaced" else 1)
        parse, join, replaced = (times[name][mb] for name in ("parser", "join", "replaced"))
        print(f"{mb} MB line: parser {parse * 1e3:8.1f} ms   join {join * 1e3:7.1f} ms   "
              f"replaced loop {replaced * 1e3:8.1f} ms   parser/join {parse / join:5.1f}")
    for name, by_size in times.items():
        print(f"8 MB / 1 MB time, {name}: {by_size[8] / by_size[1]:.1f} (linear ~8, quadratic ~64)")
    small = _chunks(b"data: {\"choices\":[]}\n\n" * 200_000, args.chunk)
    t = _best(_parse, small, args.repeat)
    print(f"200,000 small events: {t * 1e3:.1f} ms ({t / 200_000 * 1e6:.2f} us per event)")


if __name__ == "__main__":
    main()
