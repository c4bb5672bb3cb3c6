"""The flow view in a real browser: layered layout, arrowheads, the whole drawing scaled to the full-width panel
(never below its minimum scale), nodes as buttons with their details below the drawing (the same role control
as the LLM nodes list, the compile diagnostics inline), keyboard only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import NEW_FLOW, ServeProcess, open_file, wait_checked

pytestmark = pytest.mark.browser
_RECT = "n => [Number(n.getAttribute('x')), Number(n.getAttribute('y'))]"


def test_nodes_without_positions_are_layered_by_depth_and_edges_have_arrowheads(page: Any,
                                                                               console: ServeProcess) -> None:
    flow = json.loads(NEW_FLOW)
    for n in flow["nodes"]:
        n.pop("position")
    flow["nodes"].reverse()  # the file's order is not the flow's order
    flow["edges"].append({"source": "start", "target": "respond_prompt"})  # a shortcut: depth is the longest path
    layers = console.folder / "layers.json"
    layers.write_text(json.dumps(flow), encoding="utf-8")
    try:
        open_file(page, console.base_url, "layers.json")
        at = {n: page.eval_on_selector(f"rect[data-node='{n}']", _RECT)
              for n in ("start", "classify_prompt", "classify", "respond_prompt", "respond", "end")}
        xs = [at[n][0] for n in ("start", "classify_prompt", "classify", "respond_prompt", "respond", "end")]
        assert xs == sorted(xs) and len(set(xs)) == 6  # one layer per depth, left to right
        edges = page.locator("#flow-graph path.edge")
        assert edges.count() == len(flow["edges"])
        assert set(edges.evaluate_all("es => es.map(e => e.getAttribute('marker-end'))")) == {"url(#flow-arrow)"}
        assert page.locator("#flow-graph marker#flow-arrow path").count() == 1
    finally:
        layers.unlink()
    open_file(page, console.base_url, "new-flow.json")  # positions in the file are kept
    for n in json.loads(NEW_FLOW)["nodes"]:
        assert page.eval_on_selector(f"rect[data-node='{n['id']}']", _RECT) == [n["position"]["x"], n["position"]["y"]]


def test_keyboard_only_a_node_is_selected_and_its_role_changed(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "new-flow.json")
    page.focus("#file-select")
    for _ in range(40):
        if page.evaluate("document.activeElement.id") == "graph-classify":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "graph-classify"
    node = page.locator("#graph-classify")
    assert node.get_attribute("role") == "button" and "Classifier (llm · default)" in node.get_attribute("aria-label")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "detail-classify-role"  # the node's role, below the drawing
    assert node.get_attribute("aria-pressed") == "true"
    before = page.text_content("#yaml-preview")
    assert page.eval_on_selector("#detail-classify-role", "s => Array.from(s.options).map(o => o.value)") == \
        ["", "primary"]
    page.keyboard.press("ArrowDown")
    assert page.locator("#detail-classify-role").input_value() == "primary"
    wait_checked(page)
    after = page.text_content("#yaml-preview")
    assert after != before and after.count("llm_role: primary") == before.count("llm_role: primary") + 1
    assert page.locator("#node-classify-role").input_value() == "primary"  # the LLM nodes list agrees
    assert "llm · primary" in page.text_content("#graph-classify")
    assert page.evaluate("document.activeElement.id") == "detail-classify-role"  # the focus stays


def test_the_details_follow_registry_edits_and_show_the_nodes_diagnostics(page: Any, console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")
    page.click("#graph-critic")
    select = page.locator("#detail-critic-role")
    assert select.input_value() == "critic" and "select-error" not in (select.get_attribute("class") or "")
    page.click("#m2-delete")  # critic, which node 'critic' uses
    assert "select-error" in (select.get_attribute("class") or "") and select.get_attribute("aria-invalid") == "true"
    assert "declare it in Flow → Models" in page.text_content("#detail-critic .orphan-hint")
    wait_checked(page)
    diagnostics = page.locator("#detail-critic p.error:not(.orphan-hint)").all_text_contents()
    assert diagnostics and all(d in page.text_content("#problems") for d in diagnostics)
    assert any("llm_role='critic' is not declared" in d for d in diagnostics)
    page.click("#detail-critic .orphan-hint a")
    assert page.evaluate("document.activeElement.closest('#models-panel') !== null")


_GEOMETRY = """() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const drawing = document.querySelector('.flow-drawing'), svg = document.getElementById('flow-graph');
  return {drawing: box(drawing), scroll: [drawing.scrollWidth, drawing.clientWidth], svg: box(svg),
          viewbox: svg.viewBox.baseVal.width, panel: box(document.getElementById('flow-panel')),
          editor: box(document.querySelector('#view-registry .editor')), aside: box(document.querySelector('.previews')),
          detail: box(document.getElementById('node-detail')),
          shapes: [...svg.querySelectorAll('rect.node, path.edge')].map(box)};
}"""


def test_the_whole_flow_fits_the_full_width_panel_and_scrolls_only_below_its_minimum_scale(page: Any,
                                                                                         console: ServeProcess) -> None:
    open_file(page, console.base_url, "support.json")  # 12 nodes, 2,000 units wide
    page.click("#graph-respond")
    g = page.evaluate(_GEOMETRY)
    assert g["panel"][0] == g["editor"][0] and g["panel"][2] == g["aside"][2]  # below both columns, spanning them
    assert g["panel"][1] >= max(g["editor"][3], g["aside"][3])
    assert g["scroll"][0] <= g["scroll"][1]  # at 1400 pixels wide nothing scrolls...
    left, top, right, bottom = g["drawing"]
    assert g["shapes"] and all(s[0] >= left - 1 and s[2] <= right + 1 and s[1] >= top - 1 and s[3] <= bottom + 1
                               for s in g["shapes"])  # ...and every node and edge is in sight
    scale = (g["svg"][2] - g["svg"][0]) / g["viewbox"]
    assert 0.6 <= scale <= 1  # scaled to the width, labels still readable
    assert g["detail"][1] >= g["svg"][3]  # the details: below the drawing
    assert "Responder" in page.text_content("#node-detail h3")
    page.set_viewport_size({"width": 900, "height": 1000})
    g = page.evaluate(_GEOMETRY)
    assert round(g["svg"][2] - g["svg"][0]) == round(0.6 * g["viewbox"])  # no smaller than the minimum scale
    assert g["scroll"][0] > g["scroll"][1]  # the drawing scrolls instead


def test_edges_show_their_label_condition_or_source_handle_at_their_middle(page: Any, console: ServeProcess) -> None:
    flow = json.loads(NEW_FLOW)
    flow["edges"][2]["label"] = "urgent"
    flow["edges"][2]["condition"] = "'urgent' in classify.content"  # the label wins over the condition
    flow["edges"][3]["condition"] = "'billing' in classify.content"
    flow["edges"][4]["source_handle"] = "otherwise"
    flow["edges"][1]["label"] = "<b>x</b>"  # drawn as text, never as markup
    labelled = console.folder / "labelled.json"
    labelled.write_text(json.dumps(flow), encoding="utf-8")
    try:
        open_file(page, console.base_url, "labelled.json")
        found = page.locator("#flow-graph text.edge-label").evaluate_all(
            "ts => ts.map(t => { const b = t.getBBox(), g = t.parentNode; const e = document.querySelector("
            "`#flow-graph path.edge[data-source='${g.dataset.source}'][data-target='${g.dataset.target}']`);"
            " const m = e.getPointAtLength(e.getTotalLength() / 2);"
            " return [g.dataset.source, g.querySelector('title').textContent, t.textContent,"
            " b.x + b.width / 2 - m.x, b.y + b.height - m.y, t.querySelectorAll('*').length]; })")
        assert [tuple(f[:2]) for f in found] == [("classify_prompt", "<b>x</b>"), ("classify", "urgent"),
                                                 ("respond_prompt", "'billing' in classify.content"),
                                                 ("respond", "otherwise")]
        for _, whole, drawn, dx, dy, children in found:
            assert drawn == whole or (drawn.endswith("…") and whole.startswith(drawn[:-1]))  # cut to the room
            assert abs(dx) <= 2 and -12 <= dy <= 2 and children == 0  # centred just above the curve's middle
    finally:
        labelled.unlink()
