"""``tierflow route``: fit routers on recorded outcomes, evaluate them against baselines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

route_app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                        help="Learned routing: record outcomes, fit a router on them, evaluate it, inspect splits.")

_SPLITS = ("train", "test", "all")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _check_split(part: str, by: str, share: float, parts: tuple[str, ...] = _SPLITS) -> None:
    if part not in parts:
        _fail(f"--split must be one of {list(parts)}, got {part!r}", 2)
    if by not in ("prompt", "task"):
        _fail(f"--split-by must be 'prompt' or 'task', got {by!r}", 2)
    if not 0 <= share < 1:
        _fail(f"--test-share must be at least 0 and below 1 (the share of prompts held out), got {share}", 2)


def _read_prices(path: Path | None) -> dict[str, tuple[float, float]] | None:
    from tierflow.routing.data.outcomes import read_prices

    return read_prices(path) if path is not None else None


def _load(paths: list[Path], prices: dict[str, tuple[float, float]] | None = None) -> Any:
    from tierflow.routing.data.formats import load_outcomes

    table = load_outcomes(paths, prices=prices)
    if table.n == 0:
        _fail(f"no prompts in {[str(p) for p in paths]}")
    return table


def _load_part(table: Any, paths: list[Path], part: str, by: str, share: float) -> Any:
    """The ``part`` of an already loaded table (``part``, ``by`` and ``share`` already checked)."""
    from tierflow.routing.data.split import select

    table = select(table, part, by, share)  # type: ignore[arg-type]
    if table.n == 0:
        _fail(f"the {part!r} part of {[str(p) for p in paths]} is empty")
    return table


def _params(raw: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--param expects KEY=VALUE, got {item!r}", 2)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


_PRICES_HELP = "JSON/YAML price file, model -> [input, output] USD per 1M tokens, for tables without costs."


@route_app.command("fit")
def fit(outcomes: list[Path] = typer.Argument(None, help="Outcome files or directories (.csv, .json, .jsonl)."),
        output: Path = typer.Option(..., "-o", "--output", help="Router file to write (.json; arrays go to .npz)."),
        kind: str = typer.Option("auto", "--kind", help=(
            "auto (default: the kind whose out-of-fold curve on these outcomes scores best), "
            "blend, knn, cluster, linear, task or cascade.")),
        target_quality: float | None = typer.Option(None, "--target-quality",
                                                       help="Share of the best single model's quality to reach."),
        max_cost_per_1k: float | None = typer.Option(None, "--max-cost-per-1k", help="Budget, USD per 1k calls."),
        strong_share: float | None = typer.Option(None, "--strong-share",
                                                     help="Largest share of calls to the strongest model."),
        split: str = typer.Option("train", "--split", help="Which part to fit on: train, test or all."),
        split_by: str = typer.Option("prompt", "--split-by", help="Hold out prompts or whole tasks."),
        test_share: float = typer.Option(0.3, "--test-share", help="Share of the held-out part."),
        embedder: str = typer.Option("minilm", "--embedder", help=(
            "minilm (local ONNX, default), static (distilled token vectors: ~0.25 ms decisions) or hashing.")),
        param: list[str] = typer.Option([], "--param", help="Router parameter KEY=VALUE (e.g. k=25)."),
        prices: Path | None = typer.Option(None, "--prices", help=_PRICES_HELP),
        folds: str = typer.Option("prompt", "--folds", help=(
            "What the out-of-fold refits behind calibration and auto hold out: prompt, "
            "or task (for traffic on topics the outcomes do not cover).")),
        from_ledger: Path | None = typer.Option(None, "--from-ledger", help=(
            "Fit on a ledger's logged, scored requests of --role instead of outcome files (weighted by the "
            "logged propensities; docs/routing.md, 'Closed loop').")),
        role: str | None = typer.Option(None, "--role", help="With --from-ledger: the routed role."),
        config: Path | None = typer.Option(None, "--config", "-c", help="With --from-ledger: the project config."),
        ) -> None:
    """Fit a router on recorded outcomes (or a ledger's logged feedback), calibrate it to a target, and save it."""
    from tierflow.errors import TierflowError
    from tierflow.routing.fit.calibrate import FOLD_KINDS
    from tierflow.routing.fit.train import fit_router
    from tierflow.routing.io import save_router
    from tierflow.routing.targets import CalibrationTarget

    given = {k: v for k, v in (("quality", target_quality), ("max_cost_per_1k", max_cost_per_1k),
                               ("strong_share", strong_share)) if v is not None}
    if len(given) > 1:
        _fail("give at most one of --target-quality, --max-cost-per-1k, --strong-share", 2)
    if folds not in FOLD_KINDS:
        _fail(f"--folds must be 'prompt' or 'task', got {folds!r}", 2)
    try:
        target = CalibrationTarget(**given) if given else None
        _check_split(split, split_by, test_share)
        if from_ledger is not None:
            everything = _ledger_table(from_ledger, role, config, outcomes)
            outcomes = [from_ledger]
        else:
            if not outcomes:
                _fail("name outcome files, or --from-ledger F --role R", 2)
            everything = _load(outcomes, _read_prices(prices))
        table = _load_part(everything, outcomes, split, split_by, test_share)
        router = fit_router(table, kind, params=_params(param), embedder=embedder, target=target,
                            strict_target=True, folds=folds)
        path = save_router(router, output, info={"outcomes": [str(p.resolve()) for p in outcomes], "split": split,
                                                  "split_by": split_by, "test_share": test_share,
                                                  "n_prompts": table.n, "notes": table.notes})
    except TierflowError as exc:
        _fail(str(exc))
    _report_fit(router, path, table, everything.n)


def _ledger_table(ledger: Path, role: str | None, config: Path | None, outcomes: list[Path] | None) -> Any:
    from tierflow.config import load_config
    from tierflow.routing.shadow import outcomes_from_ledger

    if outcomes:
        _fail("give outcome files or --from-ledger, not both", 2)
    if not role:
        _fail("--from-ledger needs --role (the routed role whose traffic to learn from)", 2)
    return outcomes_from_ledger(load_config(config), str(role), ledger)


def _report_fit(router: Any, path: Path, table: Any, n_all: int) -> None:
    """What `route fit` prints: the file written, the calibrated point, how auto chose, the notes."""
    complete = len(table.complete_rows())
    scope = f"{table.n} prompts" + ("" if complete == table.n else f", {complete} with every model's outcome")
    typer.echo(f"wrote {path} ({router.kind} router over {len(router.models)} models, fitted on {scope})")
    if table.n < n_all:
        typer.echo(f"held out for `route eval`: the other {n_all - table.n} prompts "
                   f"(--split all fits on every prompt)")
    _report_calibration(router, table)
    _report_choices(router)
    if router.prefixes or router.suffixes:
        typer.echo(f"stripped before embedding (shared by every prompt of a task): {len(router.prefixes)} "
                   f"prefix(es), {len(router.suffixes)} closing instruction(s); listed in the router file")
    for note in table.notes[:3]:
        typer.echo(f"note: {note}")
    if len(table.notes) > 3:
        typer.echo(f"note: ... and {len(table.notes) - 3} more notes of the same kind (see the router file's info)")


def _report_calibration(router: Any, table: Any) -> None:
    """The calibrated knob and its expected quality, cost and strong share."""
    import numpy as np

    cal = router.calibration
    if not cal:
        return
    lo, hi = cal["expected_quality_ci95"]
    cost = (f"cost ${cal['expected_cost'] * 1000:.4g} per 1k calls" if not np.isnan(table.costs).all()
            else "cost unknown (no prices: see --prices)")
    mix = cal.get("mix")
    mixed = f" ({router.knob_name}={mix['knob']} on {mix['share']:.1%} of prompts)" if mix else ""
    typer.echo(f"calibrated {router.knob_name}={cal.get('knob')}{mixed}: expected quality "
               f"{cal['expected_quality']:.4f} [{lo:.4f}, {hi:.4f}], {cost}, "
               f"strongest model on {cal['expected_strong_share']:.1%} of calls")
    if cal.get("note"):
        typer.echo(f"note: {cal['note']} (the default target is {cal['target']})")


def _report_choices(router: Any) -> None:
    """How `auto` chose the kind, the cascade its answer mode, and kNN its neighbourhood."""
    sel = router.calibration.get("selection")
    if sel:
        scores = ", ".join(f"{k} {v:.4f}" for k, v in sorted(sel["scores"].items(), key=lambda kv: -kv[1]))
        typer.echo(f"kind auto chose {sel['chosen']} by {sel['by']}: {scores}; --kind forces one")
        for kind, why in sel.get("failed", {}).items():
            typer.echo(f"note: kind {kind} was not fitted: {why}")
    choice = getattr(router, "vote_choice", None)
    if choice:
        voted, plain = choice["out_of_fold"]["weighted"], choice["out_of_fold"]["none"]
        typer.echo(f"cascade answer: {'weighted vote' if choice['chosen'] == 'weighted' else 'plain'} (out of fold, "
                   f"voted vs plain: AIQ over the models' cost range {voted['aiq']:.4f} vs {plain['aiq']:.4f}, best "
                   f"quality {voted['max_quality']:.4f} vs {plain['max_quality']:.4f}; --param vote=none|weighted "
                   "forces one)")
    k_choice = getattr(router, "k_choice", None)
    if k_choice:
        ratios = ", ".join(f"k={k} {v:.3f}" for k, v in k_choice["brier_ratio"].items())
        typer.echo(f"neighbours: the {k_choice['chosen']} nearest training prompts (leave-one-out Brier score "
                   f"over the table mean's: {ratios}; --param k=N forces one)")


@route_app.command("eval")
def eval_(router_path: Path = typer.Argument(..., metavar="ROUTER", help="Router file from `route fit`."),
          outcomes: list[Path] = typer.Argument(..., help="Outcome files or directories."),
          split: str = typer.Option("auto", "--split", help=(
              "Which prompts to evaluate on: auto (default: those the router was not fitted on; the held-out "
              "part of its own outcome files, or all of other files), or the hash split's test, train or all.")),
          split_by: str = typer.Option("prompt", "--split-by",
                                       help="With --split test or train: hold out prompts or whole tasks."),
          test_share: float = typer.Option(0.3, "--test-share"),
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
          plot: Path | None = typer.Option(None, "--plot", help="Write the cost-quality plot (PNG)."),
          html: Path | None = typer.Option(None, "--html", help="Write an HTML report."),
          bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap resamples for the 95% CIs."),
          latency: bool = typer.Option(True, "--latency/--no-latency", help="Measure decision latency."),
          prices: Path | None = typer.Option(None, "--prices", help=_PRICES_HELP),
          ) -> None:
    """Evaluate a router against the baselines (AIQ, APGR, CPT, cost to match the best model...)."""
    from tierflow.errors import TierflowError
    from tierflow.routing.fit.evaluate import evaluate_router
    from tierflow.routing.fit.holdout import fitted_on_overlap, training_outcomes, unseen_part
    from tierflow.routing.fit.report import render_html, render_text, write_plot
    from tierflow.routing.io import load_router

    _check_split(split, split_by, test_share, ("auto", *_SPLITS))
    try:
        router = load_router(router_path)
        price_table = _read_prices(prices)
        if split == "auto":
            test, train, notes = unseen_part(router, _load(outcomes, price_table),
                                             split_by, test_share,  # type: ignore[arg-type]
                                             training=lambda: training_outcomes(router, price_table))
        else:
            everything = _load(outcomes, price_table)
            test = _load_part(everything, outcomes, split, split_by, test_share)
            train = _load_part(everything, outcomes, "train", split_by, test_share) if split == "test" else None
            notes = fitted_on_overlap(router, test)
        report = evaluate_router(router, test, train, bootstrap=bootstrap, latency=latency)
        report["notes"] = notes + report["notes"]
        report["split"] = {"part": split, "by": split_by, "test_share": test_share, "evaluated": test.n}
        if plot:
            write_plot(report, plot)
        if html:
            render_html(report, html, plot)
    except TierflowError as exc:
        _fail(str(exc))
    if as_json:
        json.dump(report, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        typer.echo(render_text(report))


@route_app.command("split")
def split_cmd(outcomes: list[Path] = typer.Argument(..., help="Outcome files or directories."),
              split_by: str = typer.Option("prompt", "--split-by"),
              test_share: float = typer.Option(0.3, "--test-share")) -> None:
    """Show the held-out split (a fixed hash rule, see tierflow.routing.data.split)."""
    from tierflow.errors import TierflowError
    from tierflow.routing.data.split import split_mask

    _check_split("all", split_by, test_share)
    try:
        table = _load(outcomes)
    except TierflowError as exc:
        _fail(str(exc))
    mask = split_mask(table, split_by, test_share)  # type: ignore[arg-type]
    held_tasks = sorted({t for t, m in zip(table.tasks, mask) if m})
    typer.echo(json.dumps({"rule": "sha256('tierflow-holdout-v1:' + key) < test_share", "by": split_by,
                           "test_share": test_share, "train": int((~mask).sum()), "test": int(mask.sum()),
                           "held_out_tasks": held_tasks if split_by == "task" else None}, indent=1))


@route_app.command("record")
def record(questions: Path = typer.Argument(..., help='JSONL questions: {"prompt", "reference", "prompt_id"?, '
                                                      '"task"?}; reference is the expected answer.'),
           output: Path = typer.Option(..., "-o", "--output", help="Outcome file (long JSONL) to append to."),
           role: list[str] = typer.Option(..., "--role", "-r", help="A role to ask (repeatable: one per model "
                                                                     "the router will choose among)."),
           config: Path | None = typer.Option(None, "--config", "-c", help="Project config file (default: "
                                              "$TIERFLOW_CONFIG, else the embedded local ladder)."),
           scorer: str = typer.Option("auto", "--scorer", help="auto | exact | contains | number | choice"),
           max_tokens: int | None = typer.Option(None, "--max-tokens", min=1),
           concurrency: int = typer.Option(4, "--concurrency", min=1, help="Calls in flight at once."),
           prices: Path | None = typer.Option(None, "--prices", help=(
               "JSON/YAML, role or provider/model -> [input, output] USD per 1M tokens: costs the calls at "
               "these prices instead of the config's (local models are free; a nominal price lets a router "
               "weigh them)."))) -> None:
    """Ask roles questions with known answers, score each answer, and append the outcomes for `route fit`.

    Each line is written as soon as its answer arrives; run again to record only what is missing.
    Exit 1 when any call failed after its retries."""
    import asyncio

    from tierflow.calls import Client
    from tierflow.config import load_config
    from tierflow.errors import TierflowError
    from tierflow.routing.data.record import SCORERS, read_questions, record_outcomes

    if scorer not in SCORERS:
        _fail(f"--scorer must be one of {sorted(SCORERS)}, got {scorer!r}", 2)
    try:
        asked = read_questions(questions)
        price_table = _read_prices(prices)
        client = Client(load_config(config))
        for r in role:
            client.planner.plan(r)  # an unknown role fails here, before any call is paid for
    except (TierflowError, OSError) as exc:
        _fail(str(exc))

    async def run() -> Any:
        try:
            return await record_outcomes(client, asked, role, output, scorer=scorer, concurrency=concurrency,
                                         prices=price_table, max_tokens=max_tokens)
        finally:
            await client.aclose()

    try:
        summary = asyncio.run(run())
    except TierflowError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail(f"interrupted; the answers already recorded are in {output}: run again to record the rest", 130)
    typer.echo(f"recorded {summary.recorded} outcome(s) to {output} ({summary.skipped} already there) for "
               f"{len(asked)} questions x {len(role)} roles")
    if summary.failed:
        for pid, r, error in summary.failed[:5]:
            typer.echo(f"failed: {r} on {pid}: {error}", err=True)
        more = f" (and {len(summary.failed) - 5} more)" if len(summary.failed) > 5 else ""
        _fail(f"{len(summary.failed)} call(s) failed after their retries{more} and were not recorded; "
              "run the same command again to record them")


def register(app: typer.Typer, models: typer.Typer) -> None:
    """Mount ``tierflow route ...``."""
    app.add_typer(route_app, name="route")

