"""``tierflow cost report``: what the ledger's calls cost, by role, model, key, variant or day (docs/tracing.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from tierflow.cli.catalog_cmds import cost_estimate

cost_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                       help="Cost estimates (one model versus a multi-model plan) and reports over the ledger.")


cost_app.command("estimate")(cost_estimate)


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@cost_app.command("report")
def report_cmd(
    ledger: Annotated[Path | None, typer.Option("--ledger", "-l", help=(
        "The ledger file (default: $TIERFLOW_HOME/gateway.sqlite, the gateway's and the config ledger's)."))] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only requests from then on: 24h, 7d, 2w or "
                                                             "an ISO date/time (UTC).")] = None,
    by: Annotated[str, typer.Option("--by", help="Group by role, model, key, variant or day.")] = "model",
    plot: Annotated[Path | None, typer.Option("--plot", help=(
        "Also draw cost and calls over time by the chosen key: a .png, .svg or .html file."))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (for scripts).")] = False,
) -> None:
    """Print the ledger's cost, calls, tokens and errors grouped by one key; optionally plot them over time."""
    from tierflow.errors import LedgerError
    from tierflow.tracing.ledger import default_ledger
    from tierflow.tracing.report import cost_report, parse_since

    path = ledger if ledger is not None else default_ledger()
    try:
        report = cost_report(path, by=by, since=parse_since(since))
        if plot is not None and report.rows:
            from tierflow.tracing.plot import write_plot

            write_plot(report, plot)
    except LedgerError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    if not report.rows:
        when = f" since {since}" if since else ""
        typer.echo(f"no requests in ledger {str(path)!r}{when}: nothing to report", err=True)
        return
    _print_table(report)
    if plot is not None:
        typer.echo(f"plot written to {plot}", err=True)


def _print_table(report: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from tierflow.tracing.report import Report

    assert isinstance(report, Report)
    since = f" since {report.to_json()['since']}" if report.since else ""
    table = Table(title=f"cost by {report.by}{since}: {report.ledger}")
    for name in (report.by, "calls", "errors", "input tokens", "output tokens", "cost (USD)", "mean latency"):
        table.add_column(name, justify="left" if name == report.by else "right")
    for r in [*report.rows, report.total]:
        table.add_row(r.key, f"{r.calls:,}", f"{r.errors:,}", f"{r.input_tokens:,}", f"{r.output_tokens:,}",
                      f"{r.cost_usd:.6f}", f"{r.mean_latency_ms:.0f} ms", end_section=r is report.rows[-1])
    Console(highlight=False).print(table)


def register(app: typer.Typer, models: typer.Typer) -> None:
    app.add_typer(cost_app, name="cost")
