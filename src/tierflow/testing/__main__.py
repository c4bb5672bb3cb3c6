"""Run the loopback test server standalone, and script it from another process.

``python -m tierflow.testing --port 8765`` serves; the subcommands (``wait``, ``script``,
``default``, ``reset``, ``count``) talk to a running server through its control API, so a shell
script, a benchmark or a test in another language can script failures (README, "Testing against a
fake LLM"). :data:`CONTROL_API` is the reference printed by ``--help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import MISSING, fields
from typing import Any

from tierflow.testing.behaviours import _KINDS, behaviour_from_dict
from tierflow.testing.server import LLMTestServer

DEFAULT_URL = "http://127.0.0.1:8765"
URL_ENV = "TIERFLOW_TEST_SERVER"

_CONTROL_API = """\
control API (JSON over HTTP, on the server's own address):
  POST /_control/script   {"model": "m", "behaviours": [B, ...]}
                          append behaviours for model m; each request to m consumes the next one
  POST /_control/default  {"model": "m" or "*", "behaviour": B}
                          what m (or every model without its own) does once its script is used up
  POST /_control/reset    forget scripts, defaults, counts and recorded requests
  GET  /_control/count?model=m  -> {"count": N, "disconnects": D} (all models without ?model=)
  GET  /health            -> {"ok": true}

behaviours B: {"kind": K, field: value, ...}; unset fields keep their defaults
{behaviours}

routes: POST /v1/chat/completions (OpenAI; also /openai/deployments/{model}/... for Azure),
POST /v1/messages (Anthropic), POST /v1beta/models/{model}:generateContent and
:streamGenerateContent (Gemini). Point a provider's base_url at the server.

from a shell (see the README for a whole session):
  python -m tierflow.testing --port 8765 &
  python -m tierflow.testing wait
  python -m tierflow.testing script gpt-x '{"kind": "status", "code": 503}'
  python -m tierflow.testing count gpt-x
  curl -s -X POST http://127.0.0.1:8765/_control/script \\
       -d '{"model": "gpt-x", "behaviours": [{"kind": "status", "code": 503}]}'
"""


def _behaviour_reference() -> str:
    """Two lines per behaviour kind: what it does, then its fields with their defaults."""
    lines = []
    for kind, cls in _KINDS.items():
        doc = " ".join((cls.__doc__ or "").replace("``", "").split())
        values = [f"{f.name} (required)" if f.default is MISSING else f"{f.name}={json.dumps(f.default)}"
                  for f in fields(cls)]
        lines.append(f"  {kind:<12} {doc.split('. ')[0].rstrip('.')}")
        lines.append(f"  {'':<12} {', '.join(values)}")
    return "\n".join(lines)


CONTROL_API = _CONTROL_API.replace("{behaviours}", _behaviour_reference())
"""What ``--help`` prints after the options: the control API, every behaviour, an example."""


class _ControlError(Exception):
    """A control request failed: the message says what to check."""


async def _serve(port: int, record: bool) -> None:
    async with LLMTestServer(port=port, record_requests=record) as srv:
        print(f"tierflow test server listening on {srv.base_url}", flush=True)
        await asyncio.Event().wait()


def _request(url: str, path: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    """One control request; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (the URL is the user's)
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        raise _ControlError(f"{url}{path} answered HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _ControlError(f"no test server at {url} ({reason}); start one with "
                            f"`python -m tierflow.testing --port PORT` and pass --url or ${URL_ENV}") from None


def _behaviours(texts: list[str]) -> list[dict[str, Any]]:
    """Parse and check each behaviour argument here, so a typo is reported before anything is sent."""
    out = []
    for i, text in enumerate(texts, 1):
        try:
            data = json.loads(text)
            behaviour_from_dict(data)
        except (ValueError, TypeError) as exc:
            raise _ControlError(f"behaviour {i} ({text!r}): {exc}") from None
        out.append(data)
    return out


def _wait(url: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            _request(url, "/health", timeout=1.0)
            return
        except _ControlError:
            if time.monotonic() >= end:
                raise _ControlError(f"no test server answered at {url} within {timeout:g} s") from None
            time.sleep(0.05)


def _control(args: argparse.Namespace) -> Any:
    """Run one control subcommand; what to print (None: nothing)."""
    url = args.url
    if args.command == "wait":
        _wait(url, args.timeout)
        return None
    if args.command == "script":
        return _request(url, "/_control/script", {"model": args.model, "behaviours": _behaviours(args.behaviour)})
    if args.command == "default":
        [behaviour] = _behaviours([args.behaviour])
        return _request(url, "/_control/default", {"model": args.model, "behaviour": behaviour})
    if args.command == "reset":
        return _request(url, "/_control/reset", {})
    query = f"?model={urllib.parse.quote(args.model)}" if args.model else ""
    return _request(url, f"/_control/count{query}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tierflow.testing", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Loopback LLM test server (OpenAI, Anthropic, Gemini wire formats) on 127.0.0.1.\n"
                    "Without a command it serves; the commands script a running server.",
        usage="%(prog)s [--port PORT] [--no-record]\n       %(prog)s {wait,script,default,reset,count} [--url URL] ...",
        epilog=CONTROL_API)
    parser.add_argument("--port", type=int, default=0, help="serve on this port of 127.0.0.1 (0: pick a free one)")
    parser.add_argument("--no-record", action="store_true", help="do not keep request bodies (benchmarks)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    url_help = f"the running server (default: ${URL_ENV}, else {DEFAULT_URL})"

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--url", default=os.environ.get(URL_ENV) or DEFAULT_URL, help=url_help)
        return sub

    command("wait", "wait until the server answers /health").add_argument(
        "--timeout", type=float, default=10.0, help="seconds (default 10)")
    script = command("script", "append behaviours to a model's script (consumed one per request)")
    script.add_argument("model", help="the model name requests carry (or the Gemini/Azure path's model)")
    script.add_argument("behaviour", nargs="+", help='a behaviour as JSON, e.g. \'{"kind": "status", "code": 503}\'')
    default = command("default", "set what a model does once its script is used up")
    default.add_argument("model", help="a model name, or '*' for every model without its own default")
    default.add_argument("behaviour", help="a behaviour as JSON")
    command("reset", "forget scripts, defaults, counts and recorded requests")
    command("count", "print requests and disconnects seen (JSON)").add_argument(
        "model", nargs="?", help="one model (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is not None:
        try:
            answer = _control(args)
        except _ControlError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.command == "count":
            print(json.dumps(answer))
        return 0
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
