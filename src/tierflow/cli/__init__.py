"""The ``tierflow`` command line: a thin layer over the library, one module per command group.

Each command module defines ``register(app, models)`` and adds its commands to the root app
and/or the ``models`` group. Heavy imports happen inside the commands, so start-up stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(name="tierflow", no_args_is_help=True, pretty_exceptions_show_locals=False,
                  add_completion=False,
                  help="Multi-model LLM flows: roles, routing, reliable calls, cost.")
models_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                         help="The model registry, local models and the model catalog.")
app.add_typer(models_app, name="models")

_COMMAND_MODULES = ("call_cmds", "local_cmds", "flow_cmds", "catalog_cmds", "route_cmds", "serve_cmds", "cost_cmds",
                    "loop_cmds")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"tierflow.cli.{_name}").register(app, models_app)


def main() -> None:
    """Entry point of the ``tierflow`` script."""
    app(prog_name="tierflow")


if __name__ == "__main__":  # pragma: no cover
    main()
