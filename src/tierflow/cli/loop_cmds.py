"""``tierflow route shadow | promote | rollback``: the closed loop over the ledger (docs/routing.md, "Closed loop").

Mounted on the ``route`` group by :mod:`tierflow.cli.route_cmds`' ``register``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from tierflow.cli.route_cmds import route_app


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _shadow_args(config: Path | None, role: str, candidate: Path, ledger: Path | None, method: str,
                 max_quality_drop: float, max_cost_ratio: float | None, min_n: int) -> tuple[Any, Any]:
    from tierflow.config import load_config
    from tierflow.errors import TierflowError
    from tierflow.routing.shadow import shadow
    from tierflow.tracing.ledger import default_ledger

    try:
        project = load_config(config)
        report = shadow(project, role, candidate, ledger or default_ledger(), method=method,
                        max_quality_drop=max_quality_drop, max_cost_ratio=max_cost_ratio, min_n=min_n)
    except (TierflowError, ValueError) as exc:
        _fail(str(exc))
    return project, report


def _print_shadow(report: Any, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        typer.echo(json.dumps({"role": report.role, "candidate": asdict(report.candidate),
                               "live": asdict(report.live), "promotable": report.promotable,
                               "reason": report.reason, "left_out": report.left_out}, indent=2))
        return
    for name, e in (("live", report.live), ("candidate", report.candidate)):
        typer.echo(f"{name:<10} quality {e.quality:.3f} [{e.quality_ci[0]:.3f}, {e.quality_ci[1]:.3f}]  "
                   f"cost ${e.cost:.6f} [{e.cost_ci[0]:.6f}, {e.cost_ci[1]:.6f}]  "
                   f"n={e.n} effective={e.effective_n:.0f} ({e.method})")
    left = ", ".join(f"{v} {k}" for k, v in report.left_out.items() if v)
    if left:
        typer.echo(f"left out: {left}")
    typer.echo(report.reason)


_ROLE = typer.Option(..., "--role", "-r", help="The routed role (its entry in the config names the live router).")
_LEDGER = typer.Option(None, "--ledger", "-l", help="The ledger (default: $TIERFLOW_HOME/gateway.sqlite).")
_CONFIG = typer.Option(None, "--config", "-c", help="The project config (default: $TIERFLOW_CONFIG).")


@route_app.command("shadow")
def shadow_cmd(
    candidate: Path = typer.Argument(..., help="The candidate router file (.json)."),
    role: str = _ROLE,
    ledger: Path | None = _LEDGER,
    config: Path | None = _CONFIG,
    method: str = typer.Option("snips", "--method", help="ips, snips or dr (doubly robust)."),
    max_quality_drop: float = typer.Option(0.0, "--max-quality-drop", help=(
        "The target: the lower end of the candidate's quality interval may be this far below the live router's.")),
    max_cost_ratio: float | None = typer.Option(None, "--max-cost-ratio", help=(
        "The target: the candidate's cost at most this times the live router's.")),
    min_n: int = typer.Option(200, "--min-n", help="Fewer logged requests than this: too few to decide."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Estimate a candidate router's quality and cost on the ledger's logged traffic, beside the live router's
    (off-policy, from the logged choice probabilities of the role's `explore:` share; docs/routing.md)."""
    _, report = _shadow_args(config, role, candidate, ledger, method, max_quality_drop, max_cost_ratio, min_n)
    _print_shadow(report, as_json)


@route_app.command("promote")
def promote_cmd(
    candidate: Path = typer.Argument(..., help="The candidate router file (.json)."),
    role: str = _ROLE,
    ledger: Path | None = _LEDGER,
    config: Path | None = _CONFIG,
    method: str = typer.Option("snips", "--method", help="ips, snips or dr (doubly robust)."),
    max_quality_drop: float = typer.Option(0.0, "--max-quality-drop"),
    max_cost_ratio: float | None = typer.Option(None, "--max-cost-ratio"),
    min_n: int = typer.Option(200, "--min-n"),
) -> None:
    """Swap the candidate into the routed role's router file, only if its shadow estimate meets the target;
    the previous router is kept beside it (`tierflow route rollback`), and running gateways reload it."""
    from tierflow.errors import TierflowError
    from tierflow.routing.shadow import previous_path, promote

    project, report = _shadow_args(config, role, candidate, ledger, method, max_quality_drop, max_cost_ratio,
                                   min_n)
    _print_shadow(report, False)
    if not report.promotable:
        raise typer.Exit(1)
    try:
        live = promote(project, role, candidate, report)
    except TierflowError as exc:
        _fail(str(exc))
    typer.echo(f"promoted: {candidate} is now {live} (previous kept as {previous_path(live)})")


@route_app.command("rollback")
def rollback_cmd(role: str = _ROLE, config: Path | None = _CONFIG) -> None:
    """Put back the router that the last `tierflow route promote` replaced."""
    from tierflow.config import load_config
    from tierflow.errors import TierflowError
    from tierflow.routing.shadow import rollback

    try:
        live = rollback(load_config(config), role)
    except TierflowError as exc:
        _fail(str(exc))
    typer.echo(f"rolled back: {live} is the previous router again")


def register(app: typer.Typer, models: typer.Typer) -> None:
    """The commands are on ``route_app`` (imported above); nothing else to mount."""
