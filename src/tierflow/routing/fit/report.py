"""Rendering of ``route eval`` reports: text table, cost-quality plot (PNG), HTML page."""

from __future__ import annotations

import base64
import html
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from tierflow._files import atomic_path, atomic_write
from tierflow.errors import Problem, RoutingError
from tierflow.routing.curves import anchored_hull
from tierflow.routing.fit.metrics import COST_KEYS, METRIC_KEYS, TWO_MODEL_KEYS

_NAMES = ("router", "best_single", "zero_router", "random", "per_task", "agreement_cascade", "oracle")
_WIDTH = 98  # the text report fits a 100-column terminal


def _entries(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("router", report["router"])] + [(k, report["baselines"][k]) for k in _NAMES[1:]
                                              if k in report["baselines"]]


def _keys(report: dict[str, Any]) -> tuple[str, ...]:
    return METRIC_KEYS + (TWO_MODEL_KEYS if "apgr" in report["router"] else ())


def _fmt(value: Any, ci: Any, missing: str = "never") -> tuple[str, str]:
    """A figure and its interval, apart: the text report prints the interval under the figure."""
    if value is None:
        return missing, ""
    if abs(value) < 10:
        return f"{value:.3f}", f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return f"{value:.1f}", f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""


def _cells(report: dict[str, Any], entry: dict[str, Any]) -> list[tuple[str, str]]:
    """One row's metrics: "n/a" for a cost metric when no cost is known, "never" for a cost never reached."""
    costless = not report.get("costs_known", True)
    return [_fmt(entry[k], entry.get(k + "_ci95"), "n/a" if costless and k in COST_KEYS else "never")
            for k in _keys(report)]


def _headline(report: dict[str, Any]) -> str:
    return (f"{report['n_prompts']} prompts, {len(report['models'])} models; best single: "
            f"{report['best_single_model']}; 95% bootstrap CIs")


def _header_lines(key: str) -> tuple[str, str]:
    """A JSON key over two lines, split at the underscore nearest its middle (``match_best`` / ``cost_pct``)."""
    cuts = [i for i, ch in enumerate(key) if ch == "_"]
    if len(key) <= 12 or not cuts:
        return "", key
    cut = min(cuts, key=lambda i: abs(i - len(key) / 2))
    return key[:cut + 1], key[cut + 1:]


def _row(label: str, texts: list[str]) -> str:
    """One line of the table: a 17-column label, then 15-column right-aligned cells."""
    return " ".join([f"{label:17}"] + [f"{t:>15}" for t in texts])


def _block(keys: tuple[str, ...], rows: list[tuple[str, dict[str, tuple[str, str]]]]) -> list[str]:
    """The table lines of one block of metrics: its two-line header, then per curve the figures and,
    on the line below, their intervals."""
    heads = [_header_lines(k) for k in keys]
    lines = [""]
    if any(h[0] for h in heads):
        lines.append(_row("", [h[0] for h in heads]).rstrip())
    lines.append(_row("", [h[1] for h in heads]))
    for name, cells in rows:
        lines += _figure_rows(name, [cells[k] for k in keys])
    return lines


def _figure_rows(name: str, cells: list[tuple[str, str]]) -> list[str]:
    """A curve's figures, and their intervals on the line below when there are any."""
    lines = [_row(name, [figure for figure, _ in cells])]
    if any(interval for _, interval in cells):
        lines.append(_row("", [interval for _, interval in cells]).rstrip())
    return lines


def render_text(report: dict[str, Any]) -> str:
    """The metrics table, at most about 100 columns wide: each figure with its interval on the line below,
    the two-model metrics (APGR, CPT) in a second block."""
    keys = _keys(report)
    rows = [(name, dict(zip(keys, _cells(report, entry)))) for name, entry in _entries(report)]
    lines = [_headline(report) + " under each figure"]
    for block in (METRIC_KEYS, tuple(k for k in keys if k not in METRIC_KEYS)):
        if block:
            lines += _block(block, rows)
    wrap = textwrap.TextWrapper(_WIDTH, subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(lines + [part for line in _footer(report) for part in (wrap.wrap(line) or [""])])


def _footer(report: dict[str, Any]) -> list[str]:
    """What the table does not show: missing costs, the agreement baseline, notes, latency, calibration."""
    costless = not report.get("costs_known", True)
    lines: list[str] = []
    if costless:
        lines += ["", "no costs recorded and no prices for these models: cost metrics are n/a; give prices with "
                      "--prices FILE (model -> [input, output] USD per 1M tokens)"]
    agreement = report["baselines"].get("agreement_cascade")
    if agreement:
        lines += ["", f"agreement_cascade: accept when {', '.join(agreement['models'][:-1])} agree, "
                      f"else {agreement['models'][-1]} (fitted on the "
                      f"{report.get('per_task_baseline_fitted_on', 'train part')})"]
    if report.get("notes"):
        lines += [""] + [f"note: {note}" for note in report["notes"]]
    lat = report["router"].get("decision_latency_ms")
    if lat:
        lines += ["", f"decision latency (embedding + lookup, one prompt): median {lat['median']:.2f} ms, "
                      f"p95 {lat['p95']:.2f} ms"]
    cal = report["router"].get("calibrated_point")
    if cal:
        lines += ["", *_calibrated_point(cal, costless)]
    return lines


def _calibrated_point(cal: dict[str, Any], costless: bool) -> list[str]:
    """The footer lines comparing the calibrated point's expected figures with those measured."""
    target = ", ".join(f"{k}={v}" for k, v in cal["target"].items())
    if costless:
        return [f"calibrated point ({target}): expected quality {cal['expected_quality']:.4f}; on these outcomes "
                f"{cal['test_quality']:.4f}"]
    return [f"calibrated point ({target}): expected quality {cal['expected_quality']:.4f} at "
            f"${1000 * cal['expected_cost']:.3g} per 1k calls;",
            f"  on these outcomes {cal['test_quality']:.4f} at ${1000 * cal['test_cost']:.3g} per 1k calls"]


_STYLES = {"router": ("tab:red", "-", 2.4), "oracle": ("tab:green", ":", 1.6), "per_task": ("tab:purple", "--", 1.4),
           "random": ("tab:gray", "-.", 1.2), "zero_router": ("tab:blue", "--", 1.2),
           "agreement_cascade": ("tab:orange", "-.", 1.4)}


def _plot_curves(ax: Any, report: dict[str, Any], singles: dict[str, dict[str, Any]], unit: float) -> None:
    """Each curve's hull (anchored at the cheapest model, flat beyond its dearest point, as AIQ reads it)."""
    cheapest = min(singles.values(), key=lambda s: s["cost"])
    for name, entry in _entries(report):
        if name not in _STYLES:
            continue
        c, q = np.array(entry["curve"]["cost"]), np.array(entry["curve"]["quality"])
        hc, hq = anchored_hull(c, q, cheapest["cost"], cheapest["quality"])
        hc, hq = np.append(hc, max(hc[-1], 1.1 * unit)), np.append(hq, hq[-1])
        color, ls, lw = _STYLES[name]
        label = f"router ({report['router'].get('kind', '')})" if name == "router" else name
        ax.plot(100 * hc / unit, hq, ls, color=color, lw=lw, label=f"{label} AIQ {entry['aiq']:.3f}")
        if name == "router":
            ax.scatter(100 * c / unit, q, s=6, color=color, alpha=0.35)


def _plot_singles(ax: Any, singles: dict[str, dict[str, Any]], unit: float) -> None:
    """The single models as labelled points."""
    for model, s in singles.items():
        ax.scatter(100 * s["cost"] / unit, s["quality"], color="black", s=18, zorder=5)
        ax.annotate(model.split("/")[-1], (100 * s["cost"] / unit, s["quality"]), fontsize=6.5,
                    xytext=(3, -8), textcoords="offset points")


def _label(ax: Any, report: dict[str, Any], n_models: int) -> None:
    """Axes, title, grid and legend."""
    ax.axhline(report["single_models"][report["best_single_model"]]["quality"], color="black", lw=0.6, alpha=0.5)
    ax.set_xlabel(f"mean cost per prompt, % of the best single model's ({report['best_single_model']})")
    ax.set_ylabel("quality (mean score)")
    ax.set_xlim(0, 110)
    part = {"test": " held-out", "train": " training"}.get(report.get("split", {}).get("part", ""), "")
    ax.set_title(f"Cost-quality on {report['n_prompts']}{part} prompts, {n_models} models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def write_plot(report: dict[str, Any], path: str | Path) -> Path:
    """The router's cost-quality curve beside the single models and the baselines (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if not report.get("costs_known", True):
        raise RoutingError([Problem(str(path), "a cost-quality plot needs costs; these outcomes record none and "
                                               "their models have no price (give --prices FILE)")])
    singles = {m: s for m, s in report["single_models"].items() if s["cost"] is not None}
    unit = report["single_models"][report["best_single_model"]]["cost"] or 1.0
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    try:
        _plot_curves(ax, report, singles, unit)
        _plot_singles(ax, singles, unit)
        _label(ax, report, len(singles))
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path


def render_html(report: dict[str, Any], path: str | Path, plot: str | Path | None = None) -> Path:
    """A self-contained HTML page: the metrics table and, when given, the plot inlined."""
    path = Path(path)
    keys = _keys(report)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join(f"<tr><th>{html.escape(name)}</th>" + "".join(
        f"<td>{html.escape(' '.join(c).strip())}</td>" for c in _cells(report, e)) + "</tr>"
        for name, e in _entries(report))
    kind = report["router"].get("kind")
    footer = "".join(f"<p>{html.escape(line)}</p>" for line in _footer(report) if line)
    img = ""
    if plot and Path(plot).is_file():
        img = f'<img alt="cost-quality plot" src="data:image/png;base64,' \
              f'{base64.b64encode(Path(plot).read_bytes()).decode()}">'
    doc = (f"<!doctype html><meta charset='utf-8'><title>tierflow route eval</title>"
           f"<style>body{{font-family:sans-serif}}td,th{{padding:4px 8px;border-bottom:1px solid #ddd}}</style>"
           f"<h1>Router evaluation{html.escape(f' ({kind})' if kind else '')}</h1>"
           f"<p>{html.escape(_headline(report))}</p>"
           f"<table><tr><th></th>{head}</tr>{rows}</table>{footer}{img}")
    atomic_write(path, doc)
    return path
