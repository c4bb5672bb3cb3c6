"""``tierflow call``, ``tierflow models list`` and ``tierflow config check``.

Exit codes: 0 success; 1 invalid input (config problems, unknown role) or a failed call (every
target failed, deadline, interrupted stream), with a message naming the file/field or the role
and its targets on stderr; 2 bad usage (typer's own). Keys never reach any output: errors are
built from names and classes, never from secret values.

``tierflow call`` prints the answer on stdout and, unless ``--quiet``, one summary line on stderr:
the model that served, the route or split variant chosen, any fallback taken and why, tokens,
cost and time (:mod:`tierflow.cli._summary`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tierflow.config import ProjectConfig
    from tierflow.types import CallResult

ConfigOpt = typer.Option(None, "--config", "-c", help="Project config file (default: $TIERFLOW_CONFIG, "
                                                      "else the embedded local ladder).")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _load(path: Path | None) -> ProjectConfig:
    from tierflow.config import load_config
    from tierflow.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _describe_failure(exc: BaseException) -> str:
    from tierflow.errors import AllTargetsFailedError

    if isinstance(exc, AllTargetsFailedError):
        lines = [f"error: every target of {exc.role!r} failed:"]
        for a in exc.attempts:
            status = f" HTTP {a.status_code}" if a.status_code else ""
            lines.append(f"  - {a.target}: {a.outcome}" + (f" ({a.error}{status})" if a.error else ""))
        if exc.last_error is not None:  # provider messages are redacted at the source
            lines.append(f"  last error: {exc.last_error}")
        return "\n".join(lines)
    return f"error: {type(exc).__name__}: {exc}"


def call(prompt: str = typer.Argument(..., help="The user message ('-' reads it from stdin)."),
         role: str | None = typer.Option(None, "--role", "-r", help="A role of the registry (default: its first "
                                                                        "entry), or 'provider/model'."),
         config: Path | None = ConfigOpt,
         as_json: bool = typer.Option(False, "--json", help="Print a JSON record (text, model_used, attempts, "
                                                            "usage, cost_usd, latency_ms)."),
         stream: bool = typer.Option(False, "--stream", help="Print the answer as it arrives (with --json the "
                                                             "text streams to stderr)."),
         temperature: float | None = typer.Option(None, "--temperature", "-t", min=0.0, max=2.0),
         max_tokens: int | None = typer.Option(None, "--max-tokens", min=1),
         fallback: list[str] | None = typer.Option(None, "--fallback", help="Extra role or provider/model "
                                                                               "to try (repeatable)."),
         deadline: float | None = typer.Option(None, "--deadline", min=0.001, help="Overall seconds."),
         cascade: bool = typer.Option(False, "--cascade", help=(
             "With a routed role: run its router's cascade (consult the roles it asks for, answer when "
             "it accepts; a failed role is skipped; --deadline bounds each call). --json then lists every "
             "step and call.")),
         split_key: str | None = typer.Option(None, "--split-key", help=(
             "With a traffic split: calls with the same key (a user id, say) get the same variant; "
             "without one each call draws.")),
         quiet: bool = typer.Option(False, "--quiet", "-q", help=(
             "No summary line on stderr (model, route or split variant, fallback, tokens, cost, time); "
             "a fallback is then announced only in --json."))) -> None:
    """Call a role with one prompt and print the answer (and a summary line on stderr)."""
    import asyncio
    import json
    import time

    from tierflow.cli._summary import call_line, cascade_line, facts
    from tierflow.errors import TierflowError

    if cascade and (stream or fallback):
        raise _fail("--cascade cannot be combined with --stream or --fallback (each consulted role keeps "
                    "its own fallback chain)", 2)
    if prompt == "-":
        prompt = sys.stdin.read()
    cfg = _load(config)
    role = role or cfg.registry.primary.role  # no role pinned: the first entry (README, Roles and config)
    kwargs: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "fallback": fallback,
                              "deadline_s": deadline}
    if split_key is not None:
        kwargs["split_key"] = split_key
    started = time.perf_counter()
    try:
        if cascade:
            kwargs.pop("fallback")
            kwargs.pop("split_key", None)  # a routed role's cascade consults model roles only
            record = asyncio.run(_run_cascade(cfg, role, prompt, kwargs))
            typer.echo(json.dumps(record, ensure_ascii=False) if as_json else record["text"])
            if not quiet:
                typer.echo(cascade_line(role, record, time.perf_counter() - started), err=True)
            return
        result = asyncio.run(_run_call(cfg, role, prompt, stream, as_json, kwargs))
    except TierflowError as exc:
        raise _fail(_describe_failure(exc)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", 130) from None
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), **facts(result)}, ensure_ascii=False))
    elif not stream:
        typer.echo(result.text)
    if not quiet:
        typer.echo(call_line(result, role), err=True)


async def _run_call(cfg: ProjectConfig, role: str, prompt: str, stream: bool, as_json: bool,
                    kwargs: dict[str, Any]) -> CallResult:
    from tierflow.calls import Client

    client = Client(cfg)
    try:
        if not stream:
            return await client.acall(role, prompt, **kwargs)
        out = sys.stderr if as_json else sys.stdout
        async with client.astream(role, prompt, **kwargs) as chunks:
            async for chunk in chunks:
                if chunk.text:
                    out.write(chunk.text)
                    out.flush()
            out.write("\n")
            assert chunks.result is not None
            return chunks.result
    finally:
        await client.aclose()


async def _run_cascade(cfg: ProjectConfig, role: str, prompt: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run :class:`~tierflow.patterns.RoutedCascade` on routed role ``role``; its JSON record."""
    from dataclasses import asdict

    from tierflow.calls import Client
    from tierflow.patterns import RoutedCascade

    client = Client(cfg)
    try:
        result = await RoutedCascade(routed=role, **kwargs).run(prompt, client=client)
    except ValueError as exc:  # the role is not a routed one
        raise _fail(f"error: {exc}") from None
    finally:
        await client.aclose()
    return {"text": result.content, "role": result.role, "model_used": result.model_used,
            "confidence": result.confidence, "escalated": result.escalated, "reason": result.reason,
            "cost_usd": result.cost_usd, "usage": asdict(result.usage), **result.details,
            "calls": [c.to_dict() for c in result.calls]}


def models_list(config: Path | None = ConfigOpt,
                as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON.")) -> None:
    """List the registry: each role with its chain (target, then fallbacks)."""
    import json

    cfg = _load(config)
    rows: list[dict[str, Any]] = []
    for entry in cfg.registry:
        rows.append({"role": entry.role, "chain": [str(t) for t in entry.chain], "temperature": entry.temperature,
                     "modalities": entry.modalities, "system_context": entry.system_context is not None})
    for split in cfg.registry.splits.values():
        rows.append({"role": split.role, "split": [{"role": v, "share": split.share(v)} for v in split.variants]})
    for role, spec in cfg.routed_roles.items():
        rows.append({"role": role, "router": spec.get("router"), "candidates": spec.get("candidates")})
    if as_json:
        typer.echo(json.dumps({"source": cfg.source, "roles": rows}, ensure_ascii=False))
        return
    typer.echo(f"# {cfg.source}")
    width = max(len(r["role"]) for r in rows)
    for i, r in enumerate(rows):
        name = r["role"].ljust(width)
        if "router" in r:
            typer.echo(f"{name}  routed by {r['router']} over {r['candidates']}")
            continue
        if "split" in r:
            typer.echo(f"{name}  split: " + ", ".join(f"{v['role']} {v['share']:.0%}" for v in r["split"]))
            continue
        notes = []
        if i == 0:
            notes.append("default")
        if r["temperature"] is not None:
            notes.append(f"temperature {r['temperature']}")
        if r["system_context"]:
            notes.append("system_context")
        suffix = f"  ({', '.join(notes)})" if notes else ""
        typer.echo(f"{name}  {' -> '.join(r['chain'])}{suffix}")


def config_check(file: Path = typer.Argument(..., help="The config file to validate.")) -> None:
    """Validate a config file and list every problem (exit 1 when there is any)."""
    from tierflow.config import load_config
    from tierflow.errors import ConfigError

    try:
        cfg = load_config(file)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    problems = cfg.provider_problems()
    if problems:
        raise _fail(str(ConfigError(problems, source=str(file))))
    typer.echo(f"{file}: OK ({len(cfg.registry)} model roles, {len(cfg.registry.splits)} split, "
               f"{len(cfg.routed_roles)} routed, "
               f"{len(cfg.providers)} providers)")


def register(app: typer.Typer, models: typer.Typer) -> None:
    app.command("call")(call)
    models.command("list")(models_list)
    config_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                             help="Project config files.")
    config_app.command("check")(config_check)
    app.add_typer(config_app, name="config")


__all__ = ["register"]
