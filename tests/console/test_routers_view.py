"""The Routers view in a real browser: the drawn curve and its table match the API; a damaged file is named."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import (
    ADMIN_KEY,
    ROUTED_YAML,
    ServeProcess,
    add_requests,
    screenshot,
    start_serve,
    stop_serve,
    write_router,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    folder = tmp_path_factory.mktemp("routed")
    (folder / "gateway.yaml").write_text(ROUTED_YAML, encoding="utf-8")
    write_router(folder)
    server = start_serve(folder, {"TIERFLOW_ADMIN_KEY": ADMIN_KEY, "TIERFLOW_HOME": str(folder / "home")})
    yield server
    stop_serve(server)


@pytest.fixture
def routers_page(signed_in: Callable[[ServeProcess], Any], routed: ServeProcess) -> Any:
    return signed_in(routed)


def _open(page: Any, base_url: str) -> dict[str, Any]:
    page.goto(base_url + "/ui?view=routers")
    page.wait_for_function("document.body.dataset.routers === '1'")
    return page.evaluate("fetch('/ui/api/routers').then(r => r.json())")


def test_the_drawn_curve_and_its_table_match_the_api(routers_page: Any, routed: ServeProcess, tmp_path: Path,
                                                     repo_root: Path) -> None:
    now = time.time()
    add_requests(routed.folder / "gateway.sqlite", [
        {"request_id": f"r{i}", "ts": now - 1800 * i, "role": "auto", "model": "t/fast-model",
         "decision": json.dumps({"chosen": "fast" if i % 3 else "primary"}), "cost_usd": 0.0001 if i % 3 else 0.01}
        for i in range(30)])
    api = _open(routers_page, routed.base_url)
    curve = api["data"][0]["curve"]
    section = routers_page.locator("section.router[data-role='auto']")
    drawn = section.locator("svg.curve-chart circle.point").evaluate_all(
        "cs => cs.map(c => [Number(c.dataset.cost), Number(c.dataset.quality)])")
    assert drawn == [[p["cost"], p["quality"]] for p in curve["points"]]
    # the quality axis starts at a round value below the lowest point (single models included), not at 0,
    # and says so: the marks spread over more than half the plot's height instead of its top third
    lowest = min(p["quality"] for p in curve["points"] + curve["singles"])
    axis = section.locator("svg.curve-chart text.quality-axis")
    start = float(axis.get_attribute("data-start"))
    assert 0 < start < lowest and axis.text_content() == f"quality (axis from {start:g})"
    ys = section.locator("svg.curve-chart circle.point, svg.curve-chart rect.single").evaluate_all(
        "ms => ms.map(m => m.tagName === 'circle' ? Number(m.getAttribute('cy')) : Number(m.getAttribute('y')) + 4)")
    axis_ys = section.locator("svg.curve-chart line.axis").evaluate_all(
        "ls => ls.map(l => [Number(l.getAttribute('y1')), Number(l.getAttribute('y2'))])")
    plot_top, plot_bottom = axis_ys[1][0], axis_ys[1][1]
    assert plot_top <= min(ys) and max(ys) < plot_bottom and max(ys) - min(ys) > (plot_bottom - plot_top) / 2
    # by default one row per distinct operating point (the API's ranges), the knob's range in its first cell
    rows = section.locator("table.curve-ranges tbody tr")
    merged = rows.evaluate_all("rs => rs.map(r => [Number(r.dataset.cost), Number(r.dataset.quality), "
                               "Number(r.dataset.first), Number(r.dataset.last)])")
    assert merged == [[r["cost"], r["quality"], r["first"], r["last"]] for r in curve["ranges"]]
    assert 2 < len(merged) < len(curve["points"]) // 2  # a knn router's settings repeat: far fewer rows
    cells = rows.evaluate_all("rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    for r, row in zip(curve["ranges"], cells, strict=True):
        assert row[1] == str(r["last"] - r["first"] + 1)
        assert (" – " in row[0]) == (r["first"] < r["last"])
        assert row[5] == ("on hull" if r["on_hull"] else "")
        assert row[6].startswith("current") == r["current"] and row[6].startswith("mixed in") == r["mixed_in"]
    assert cells[-1][0].endswith("∞") and curve["points"][-1]["knob"] is None  # the last setting: always the cheapest
    assert sum(r["on_hull"] for r in curve["ranges"]) == len(curve["hull"])
    mix = curve["mix"]
    assert mix is not None and 0.01 < mix["share"] < 0.99  # the test router's target lands between two settings
    (current_row,) = [row for row in cells if row[6].startswith("current")]
    (mixed_row,) = [row for row in cells if row[6].startswith("mixed in")]
    assert current_row[6] == f"current ({100 * (1 - mix['share']):.3g}%)"
    assert mixed_row[6] == f"mixed in ({100 * mix['share']:.3g}%)"
    # every setting, in a closed <details>
    details = section.locator("details.curve-all")
    assert details.get_attribute("open") is None
    assert details.locator("summary").text_content() == f"All {len(curve['points'])} knob settings"
    listed = details.locator("table.curve-points tbody tr").evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.cost), Number(r.dataset.quality), "
        "r.dataset.knob === 'null' ? null : Number(r.dataset.knob)])")
    assert listed == [[p["cost"], p["quality"], p["knob"]] for p in curve["points"]]
    hull = section.locator("svg.curve-chart polyline.hull").get_attribute("points").split()
    assert len(hull) == len(curve["hull"]) >= 2
    vertices = {(h["cost"], h["quality"]) for h in curve["hull"]}
    marked = details.locator("table.curve-points tbody tr").evaluate_all("rs => rs.map(r => r.cells[4].textContent)")
    assert marked == ["on hull" if (p["cost"], p["quality"]) in vertices else "" for p in curve["points"]]
    # a share that rounds away reads as (almost) none or all, not as "2e-7%"
    assert routers_page.evaluate("[pct(2e-9), pct(1 - 2e-9), pct(0.4831)]") == ["< 0.01%", "> 99.99%", "48.3%"]
    current = section.locator("svg.curve-chart circle.current")
    assert [float(current.get_attribute("data-cost")), float(current.get_attribute("data-quality"))] == \
        [curve["current"]["cost"], curve["current"]["quality"]]
    assert details.locator("table.curve-points tbody tr", has_text="current").count() == 1
    setting = details.locator("table.curve-points tbody tr").evaluate_all("rs => rs.map(r => r.cells[5].textContent)")
    assert [m.split(" (")[0] for m in setting] == \
        ["current" if p["current"] else "mixed in" if p["mixed_in"] else "" for p in curve["points"]]
    singles = section.locator("table.curve-singles tbody tr").all_text_contents()
    assert [s["model"] for s in curve["singles"]] == ["cheap", "strong"]
    assert singles[0].startswith("cheapfast") and singles[1].startswith("strongprimary")
    live = section.locator("p.router-live").text_content()
    assert "30 requests" in live
    chosen = section.locator("table.router-chosen tbody tr").all_text_contents()
    assert chosen == ["fast2066.7%", "primary1033.3%"]
    screenshot(routers_page, "console-routers.png", tmp_path, repo_root)


def test_a_damaged_router_file_is_named_in_the_view(routers_page: Any, routed: ServeProcess) -> None:
    router = routed.folder / "routers" / "auto.json"
    good = router.read_text(encoding="utf-8")
    try:
        router.write_text(good[:80], encoding="utf-8")
        _open(routers_page, routed.base_url)
        error = routers_page.locator("section.router[data-role='auto'] .router-error").text_content()
        assert "auto.json" in error and "not a JSON router file" in error
        assert routers_page.locator("section.router[data-role='auto'] svg").count() == 0
        router.write_text(good, encoding="utf-8")
        routers_page.click("#routers-refresh")
        routers_page.wait_for_selector("section.router[data-role='auto'] svg.curve-chart")
        assert routers_page.locator(".router-error").count() == 0
    finally:
        router.write_text(good, encoding="utf-8")
