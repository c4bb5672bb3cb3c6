"""Run the test server standalone: ``python -m tierflow.testing --port 8765``.

Control API (JSON), for benchmarks and other processes:

- ``POST /_control/script``  ``{"model": "m", "behaviours": [{"kind": "status", "code": 500}, ...]}``
- ``POST /_control/default`` ``{"model": "m" or "*", "behaviour": {"kind": "answer", "text": "hi"}}``
- ``POST /_control/reset``
- ``GET  /_control/count?model=m`` -> ``{"count": N, "disconnects": D}``
- ``GET  /health``

Behaviour kinds: answer, status, hang, cut_stream, garbage, slow_stream (fields as in
:mod:`tierflow.testing.behaviours`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tierflow.testing.server import LLMTestServer


async def _serve(port: int, record: bool) -> None:
    async with LLMTestServer(port=port, record_requests=record) as srv:
        print(f"tierflow test server listening on {srv.base_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tierflow.testing",
                                     description="Loopback LLM test server (OpenAI, Anthropic, Gemini).")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--no-record", action="store_true", help="do not keep request bodies (benchmarks)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, not args.no_record))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
