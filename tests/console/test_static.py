"""The console's scripts as files (no browser): one SVG helper, defined before the scripts that draw with it."""

from __future__ import annotations

import re
from importlib import resources

STATIC = resources.files("tierflow.console").joinpath("static")


def test_the_drawings_share_one_svg_helper_from_console_js() -> None:
    scripts = {p.name: p.read_text(encoding="utf-8") for p in STATIC.iterdir() if p.name.endswith(".js")}
    assert "function svgEl(parent, tag, attrs, text)" in scripts["console.js"]
    makers = sorted(name for name, text in scripts.items() if "createElementNS" in text)
    assert makers == ["console.js"]  # every other script draws through svgEl
    assert sorted(name for name, text in scripts.items() if "svgEl(" in text and name != "console.js") == \
        ["flowgraph.js", "routers.js", "views.js"]
    order = re.findall(r'<script src="/ui/static/([\w.]+)"', STATIC.joinpath("index.html").read_text(encoding="utf-8"))
    assert order[0] == "console.js" and {"flowgraph.js", "routers.js", "views.js"} <= set(order)
