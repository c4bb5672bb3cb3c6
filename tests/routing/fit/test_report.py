"""The route eval report's files: the HTML page and the plot are written whole, keeping an existing file's mode."""

from __future__ import annotations

import os
import stat

import numpy as np

from tierflow.routing.curves import OperatingPoints
from tierflow.routing.fit.evaluate import evaluate
from tierflow.routing.fit.report import render_html, render_text, write_plot


def _report(two_topic) -> dict:
    is_math = np.array([t == "math" for t in two_topic.tasks])
    points = OperatingPoints(np.ones((1, two_topic.n)), np.where(is_math, 1e-4, 1e-3)[None, :],
                             (~is_math).astype(float)[None, :])
    return evaluate(points, two_topic, two_topic, bootstrap=20)


def test_html_and_plot_replace_an_existing_file_keeping_its_mode_and_leave_no_temporary_file(tmp_path, two_topic):
    report = _report(two_topic)
    html, png = tmp_path / "eval.html", tmp_path / "eval.png"
    for path in (html, png):
        path.write_text("an older report", encoding="utf-8")
        os.chmod(path, 0o640)
    write_plot(report, png)
    render_html(report, html, png)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>") and "data:image/png;base64," in \
        html.read_text(encoding="utf-8")
    assert {stat.S_IMODE(p.stat().st_mode) for p in (html, png)} == {0o640}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.html", "eval.png"]
    assert "aiq" in render_text(report)
