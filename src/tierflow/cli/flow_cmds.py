"""Flow file commands: ``schema flow``, ``compile``, ``import`` and ``run``.

Exit codes: 0 ok, 1 the flow / manifest / inputs are invalid (every problem is printed), 2 bad
usage (unknown option value, missing file). Nothing is written when compilation fails, and an
output file is replaced atomically. ``run`` prints the outputs on stdout and, unless ``--quiet``,
a record per node and one summary line on stderr (models, fallbacks, routes, split variants, cost,
time: :mod:`tierflow.cli._summary`).
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer


class _Format(enum.StrEnum):
    ir = "ir"
    yaml = "yaml"
    dsl = "dsl"


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        _fail(f"{what} {str(path)!r} does not exist or is not a file", 2)
    return path


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    from tierflow.flowfile import write_atomic

    try:
        write_atomic(output, text)
    except OSError as exc:
        _fail(f"cannot write {str(output)!r}: {exc.strerror}", 1)
    typer.echo(f"wrote {output}", err=True)


def schema_flow() -> None:
    """Print the JSON Schema of flow files."""
    from tierflow.flowfile import flow_json_schema

    typer.echo(json.dumps(flow_json_schema(), indent=2))


_CONFIG_HELP = ("Project config (providers, routed roles, allow_code); default $TIERFLOW_CONFIG or the "
                "embedded local one.")


def _project(config: Path | None) -> Any:
    from tierflow.config import load_config
    from tierflow.errors import ConfigError

    if config is not None:
        _existing(config, "config file")
    try:
        return load_config(config)
    except ConfigError as exc:
        _fail(str(exc))


def compile_cmd(
    flow: Annotated[Path, typer.Argument(help="The flow JSON file.")],
    fmt: Annotated[_Format, typer.Option("--format", "-f", help="Output format (dsl is a one-way view of "
                                                                  "the models and LLM blocks).")] = _Format.ir,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)] = None,
) -> None:
    """Compile a flow file to IR JSON, a YAML deploy manifest, or DSL text.

    Checks every name the flow looks up (roles, providers, patterns) and writes nothing on any problem.
    """
    import warnings

    from tierflow.errors import TierflowError
    from tierflow.flowfile import DSLViewWarning, compile_file

    path = _existing(flow, "flow file")
    project = _project(config)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DSLViewWarning)
            text = compile_file(path, fmt.value, project=project)
    except TierflowError as exc:
        _fail(str(exc))
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    _emit(text, output)


def import_cmd(
    manifest: Annotated[Path, typer.Argument(help="The YAML deploy manifest.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Flow file to write "
                                                                          "(default: stdout).")] = None,
) -> None:
    """Import a YAML deploy manifest as a flow file (lossless when it carries core.scaiflow_meta).

    Reads YAML manifests only: DSL text is a one-way view of a flow and cannot be imported.
    """
    from tierflow.errors import TierflowError
    from tierflow.flowfile import import_manifest, lower_flow

    try:
        flow = import_manifest(_existing(manifest, "manifest"))
        lower_flow(flow, source=str(manifest))  # refuse to write a flow that would not compile
    except TierflowError as exc:
        _fail(str(exc))
    _emit(flow.dumps(), output)


def run_cmd(
    flow: Annotated[Path, typer.Argument(help="The flow JSON file.")],
    input_: Annotated[str, typer.Option("--input", "-i", help="Run inputs as a JSON object.")] = "{}",
    config: Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print outputs and per-node records as JSON.")] = False,
    allow_code: Annotated[list[str] | None, typer.Option(
        "--allow-code", metavar="MODULE", help="Let the flow run functions of MODULE and its submodules "
        "(repeatable; adds to the config's allow_code). '*' allows every module the flow names: only for a "
        "flow you wrote or reviewed.")] = None,
    code_path: Annotated[list[Path] | None, typer.Option(
        "--code-path", metavar="DIR", help="Also import the flow's modules from DIR (repeatable), e.g. the "
        "flow's own folder; never implied.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=(
        "Print only the outputs: no node records or summary line on stderr (a fallback is then "
        "reported only in --json)."))] = False,
    trace: Annotated[bool, typer.Option("--trace", help=(
        "Print the run's trace tree (nodes, calls, attempts, tokens, cost, latency) on stderr."))] = False,
) -> None:
    """Run a flow file on the engine, with the flow's own model registry.

    A flow runs none of its code unless you allow its modules (--allow-code, or allow_code: in the config).
    With OTEL_EXPORTER_OTLP_ENDPOINT set, the run is exported as OpenTelemetry spans (docs/tracing.md).
    """
    from tierflow.errors import TierflowError

    try:
        inputs = json.loads(input_)
    except json.JSONDecodeError as exc:
        _fail(f"--input is not valid JSON: {exc.msg} at column {exc.colno}", 2)
    if not isinstance(inputs, dict):
        _fail(f"--input must be a JSON object, got {type(inputs).__name__}", 2)
    if config is not None:
        _existing(config, "config file")
    from tierflow.tracing import ConsoleTracer
    from tierflow.tracing.setup import tracers_from_environment

    tracers = [*tracers_from_environment(), *([ConsoleTracer()] if trace else [])]
    try:
        from tierflow.flowfile.runner import run_flow_file

        result = run_flow_file(_existing(flow, "flow file"), inputs, config_path=config,
                               allow_code=allow_code or (), code_path=code_path or (), tracer=tracers)
    except TierflowError as exc:
        _fail(str(exc))
    finally:
        for t in tracers:
            getattr(t, "shutdown", t.flush)()
    _print_result(result, as_json, quiet)


def _print_result(result: Any, as_json: bool, quiet: bool) -> None:
    from tierflow.cli._summary import calls_by_node, node_facts, node_notes, run_line
    from tierflow.flowfile.runner import result_to_json

    data = result_to_json(result)
    calls = calls_by_node(result)
    if as_json:
        for node_id, made in calls.items():
            data["nodes"].setdefault(node_id, {}).update(node_facts(made))
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        for name, value in data["outputs"].items():
            typer.echo(f"{name}: {value if isinstance(value, str) else json.dumps(value, default=str)}")
    if quiet:
        return
    if not as_json:
        typer.echo("", err=True)
        for node_id, rec in data["nodes"].items():
            extras = [f"{k}={rec[k]}" for k in ("model_used", "tokens", "cost_usd") if rec.get(k)]
            notes = node_notes(calls.get(node_id, []))
            duration = rec.get("duration_s")
            timing = f"{duration * 1000:.0f} ms" if isinstance(duration, (int, float)) else ""
            typer.echo(f"  {node_id:<20} {rec.get('status', ''):<8} {timing:>9}  {' '.join(extras)}"
                       + (f"  ({notes})" if notes else ""), err=True)
    typer.echo(run_line(result, calls), err=True)


def register(app: typer.Typer, models: typer.Typer) -> None:
    """Mount the flow commands on the root app."""
    schema_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                             help="Print the JSON Schema of a tierflow file format.")
    schema_app.command("flow")(schema_flow)
    app.add_typer(schema_app, name="schema")
    app.command("compile")(compile_cmd)
    app.command("import")(import_cmd)
    app.command("run")(run_cmd)
