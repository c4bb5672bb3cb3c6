"""The cost report's plot: cost and calls per time bucket, one line per key (the top 8, then "other").

PNG or SVG through matplotlib (the ``tierflow[plot]`` extra); HTML is one self-contained page
with the SVG inline and the table beside it (no script, no network).
"""

from __future__ import annotations

import html
import io
from datetime import datetime
from pathlib import Path

from tierflow._files import atomic_write
from tierflow.errors import LedgerError
from tierflow.tracing.report import Report

_TOP = 8


def _series(report: Report) -> dict[str, dict[str, tuple[int, float]]]:
    keys = list(report.series)
    if len(keys) <= _TOP + 1:
        return report.series
    out = {k: report.series[k] for k in keys[:_TOP]}
    other: dict[str, tuple[int, float]] = {}
    for k in keys[_TOP:]:
        for b, (c, v) in report.series[k].items():
            c0, v0 = other.get(b, (0, 0.0))
            other[b] = (c0 + c, v0 + v)
    out[f"other ({len(keys) - _TOP})"] = dict(sorted(other.items()))
    return out


def _figure_bytes(report: Report, fmt: str) -> bytes:
    try:
        import matplotlib
    except ImportError:
        raise LedgerError("drawing the plot needs matplotlib: pip install 'tierflow[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cost, ax_calls) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    for key, points in _series(report).items():
        xs = [datetime.fromisoformat(b) for b in points]
        ax_cost.plot(xs, [v for _, v in points.values()], marker=".", label=key)
        ax_calls.plot(xs, [c for c, _ in points.values()], marker=".", label=key)
    ax_cost.set_ylabel("cost (USD)")
    ax_calls.set_ylabel("calls")
    ax_cost.set_title(f"cost and calls per {report.bucket}, by {report.by}: {Path(report.ledger).name}")
    ax_cost.legend(fontsize="small", loc="upper left")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_plot(report: Report, path: str | Path) -> Path:
    """Write the plot to ``path``: ``.png``, ``.svg`` or ``.html`` (atomically)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".html", ".htm"):
        raise LedgerError(f"--plot {str(path)!r}: expected a .png, .svg or .html file name")
    if suffix in (".png", ".svg"):
        atomic_write(path, _figure_bytes(report, suffix[1:]))
        return path
    svg = _figure_bytes(report, "svg").decode()
    svg = svg[svg.find("<svg"):]
    rows = "".join(f"<tr><td>{html.escape(r.key)}</td><td>{r.calls}</td><td>{r.errors}</td>"
                   f"<td>{r.input_tokens}</td><td>{r.output_tokens}</td><td>{r.cost_usd:.6f}</td></tr>"
                   for r in report.rows)
    page = (f"<!doctype html><meta charset='utf-8'><title>tierflow cost report</title>"
            f"<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:right}}</style>"
            f"<h1>Cost report: {html.escape(report.ledger)}</h1>{svg}"
            f"<table><tr><th>{html.escape(report.by)}</th><th>calls</th><th>errors</th><th>input tokens</th>"
            f"<th>output tokens</th><th>cost (USD)</th></tr>{rows}</table>")
    atomic_write(path, page)
    return path


__all__ = ["write_plot"]
