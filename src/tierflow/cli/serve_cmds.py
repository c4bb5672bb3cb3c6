"""``tierflow serve`` (the OpenAI-compatible gateway) and ``tierflow keys`` (its virtual keys): docs/gateway.md.

Exit codes: 0 success (for ``serve``: a clean stop on SIGINT / SIGTERM); 1 when the config (its
``gateway:`` section included) has problems, all listed, the address cannot be bound (nothing is
served then), or a key is unknown; 2 bad usage. A key's secret is printed once, by ``keys create``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tierflow.gateway.keys import KeyStore


def serve(config: Path | None = typer.Option(None, "--config", "-c", help=(
              "Project config file (default: $TIERFLOW_CONFIG, else the embedded local ladder).")),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
          port: int = typer.Option(8000, "--port", "-p", min=0, max=65535, help="Port (0: pick a free one).")
          ) -> None:
    """Serve the config's roles over OpenAI's API (POST /v1/chat/completions, GET /v1/models), and the
    web console at /ui."""
    from tierflow.console import console_mount
    from tierflow.errors import TierflowError
    from tierflow.gateway.server import serve as run

    try:
        run(config, host, port, mounts=[console_mount()])  # the gateway does not import the console: mount it here
    except TierflowError as exc:
        typer.echo(f"error: {exc}\nnothing is served.", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


ConfigOpt = typer.Option(None, "--config", "-c", help="Project config file; its gateway.database holds the keys.")


def _store(config: Path | None) -> tuple[KeyStore, set[str]]:
    from tierflow.errors import ConfigError
    from tierflow.gateway.core import Gateway
    from tierflow.gateway.keys import KeyStore
    from tierflow.gateway.settings import load_gateway_config

    try:
        project, settings = load_gateway_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    names = {e.role for e in project.registry} | {"primary"} | set(project.routed_roles)
    database = Path(settings.database) if settings.database else Gateway.default_database()
    return KeyStore(database), names


def keys_create(name: str = typer.Argument(..., help="What the key is for (shown in lists)."),
                roles: str | None = typer.Option(None, "--roles", help="Comma-separated roles it may call "
                                                                        "(default: all)."),
                rpm: int | None = typer.Option(None, "--rpm", min=1, help="Requests per minute."),
                tpm: int | None = typer.Option(None, "--tpm", min=1, help="Tokens per minute."),
                usd_per_day: float | None = typer.Option(None, "--usd-per-day", min=0.0, help="Dollars per UTC day."),
                usd_per_month: float | None = typer.Option(None, "--usd-per-month", min=0.0,
                                                           help="Dollars per UTC month."),
                config: Path | None = ConfigOpt) -> None:
    """Create a virtual key and print its secret (shown this once: only its hash is stored)."""
    store, names = _store(config)
    role_list = [r.strip() for r in roles.split(",") if r.strip()] if roles else None
    unknown = sorted(set(role_list or []) - names)
    if unknown:
        typer.echo(f"error: unknown role(s) {unknown}; the config declares {sorted(names)}", err=True)
        raise typer.Exit(1)
    try:
        key, secret = store.create(name, roles=role_list, rpm=rpm, tpm=tpm, usd_per_day=usd_per_day,
                                   usd_per_month=usd_per_month)
    finally:
        store.close()
    typer.echo(f"created {key.key_id} ({name}); its secret, shown once:\n{secret}")


def keys_list(config: Path | None = ConfigOpt,
              as_json: bool = typer.Option(False, "--json", help="One JSON object per key.")) -> None:
    """List the keys (never their secrets), revoked ones included."""
    import json

    store, _ = _store(config)
    try:
        keys = store.list()
    finally:
        store.close()
    for k in keys:
        if as_json:
            typer.echo(json.dumps(k.to_dict()))
            continue
        limits = ", ".join(f"{n}={v}" for n, v in (("roles", ",".join(k.roles) if k.roles else None),
                                                   ("rpm", k.rpm), ("tpm", k.tpm), ("usd/day", k.usd_per_day),
                                                   ("usd/month", k.usd_per_month)) if v is not None)
        state = "revoked" if k.revoked else "active"
        typer.echo(f"{k.key_id}  {state:<7}  {k.name}" + (f"  [{limits}]" if limits else ""))


def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (key-...), as `tierflow keys list` shows."),
                config: Path | None = ConfigOpt) -> None:
    """Revoke a key: a running gateway refuses it from its next request on."""
    store, _ = _store(config)
    try:
        key = store.revoke(key_id)
    finally:
        store.close()
    if key is None:
        typer.echo(f"error: no key {key_id!r} (see `tierflow keys list`)", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key.key_id} ({key.name})")


def register(app: typer.Typer, models: typer.Typer) -> None:
    app.command("serve")(serve)
    keys_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                           help="The gateway's virtual keys (stored hashed in gateway.database).")
    keys_app.command("create")(keys_create)
    keys_app.command("list")(keys_list)
    keys_app.command("revoke")(keys_revoke)
    app.add_typer(keys_app, name="keys")


__all__ = ["register"]
