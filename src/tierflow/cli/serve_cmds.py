"""``tierflow serve``: the OpenAI-compatible gateway (docs/gateway.md).

Exit codes: 0 after a clean stop (SIGINT / SIGTERM); 1 when the config (its ``gateway:``
section included) has problems, all listed, or the address cannot be bound: nothing is served
then; 2 bad usage.
"""

from __future__ import annotations

from pathlib import Path

import typer


def serve(config: Path | None = typer.Option(None, "--config", "-c", help=(
              "Project config file (default: $TIERFLOW_CONFIG, else the embedded local ladder).")),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
          port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="Port (0: pick a free one).")
          ) -> None:
    """Serve the config's roles over OpenAI's API (POST /v1/chat/completions, GET /v1/models)."""
    from tierflow.errors import TierflowError
    from tierflow.gateway.server import serve as run

    try:
        run(config, host, port)
    except TierflowError as exc:
        typer.echo(f"error: {exc}\nnothing is served.", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer, models: typer.Typer) -> None:
    app.command("serve")(serve)


__all__ = ["register"]
