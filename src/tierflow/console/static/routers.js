// The Routers view (docs/console.md): per routed role, the router's cost-quality curve from its file
// (points, hull, current setting, single models) drawn as SVG and listed in tables, and the role's
// live figures from the ledger. Uses el(), svgEl() and api() from console.js; every value is put in as text.
"use strict";

function fmt(v, digits) { return v === null || v === undefined ? "unknown" : Number(v).toPrecision(digits || 4); }
function knobText(k) { return k === null ? "∞" : String(Number(Number(k).toPrecision(4))); }
function pct(share) {  // a share that rounds away reads as what it is: (almost) none, or (almost) all
  if (share > 0 && share < 1e-4) return "< 0.01%";
  if (share < 1 && share > 1 - 1e-4) return "> 99.99%";
  return `${Number((share * 100).toPrecision(3))}%`;
}
function knobRange(r) { return r.first === r.last ? knobText(r.knob_low) : `${knobText(r.knob_low)} – ${knobText(r.knob_high)}`; }

async function loadRouters() {
  const box = document.getElementById("routers");
  const { status, data } = await api("GET", "/ui/api/routers");
  if (status !== 200) {
    box.replaceChildren(el("p", { class: "error", role: "alert" }, data.error.message));
    document.body.dataset.routers = "error";
    return;
  }
  box.replaceChildren(...(data.data.length ? data.data.map(routerSection)
    : [el("p", { class: "hint" }, "The served config has no routed role ({role, router, candidates}). One added to the config file by hand is " +
                                     "served (and shown here) once the file is saved from the Registry view or tierflow serve restarts.")]));
  document.body.dataset.routers = String(data.data.length);
}

function routerSection(r) {
  const id = `router-${r.role}`;
  const section = el("section", { class: "router", dataset: { role: r.role }, aria: { label: `Routed role ${r.role}` } },
    el("h3", {}, `${r.role} `, el("span", { class: "hint" }, `router ${r.router}; candidates ${r.candidates.join(", ")}`)));
  if (r.error) section.append(el("p", { class: "error router-error", role: "alert" }, r.error));
  if (r.curve) section.append(...curveParts(r.curve, r.role));
  section.append(...liveParts(r.live));
  return section;
}

function curveParts(c, role) {
  const currentText = () => (c.mix ? `current (${pct(1 - c.mix.share)})` : "current");
  const mixedText = () => `mixed in (${pct(c.mix.share)})`;
  // the library marks each point and range: the knob's own setting, and the one a share of prompts is routed at under a mix
  const setting = (p) => (p.current ? currentText() : p.mixed_in ? mixedText() : "");
  const mix = c.mix ? ` (mixed: ${pct(c.mix.share)} of prompts at ${knobText(c.mix.knob)})` : "";
  const current = c.current
    ? `${c.knob_name} = ${knobText(c.current.knob)}${mix}: quality ${fmt(c.current.quality)}, $${fmt(c.current.cost)} per request`
    : "the knob is not one of the stored settings";
  const targetText = (t) => Object.entries(t).map(([k, v]) => `${k} ${v}`).join(", ");
  const fitted = c.retargeted && Object.keys(c.fitted_target).length ? `; the file was fitted for ${targetText(c.fitted_target)}` : "";
  const target = targetText(c.target) + fitted;
  const head = (first) => el("thead", {}, el("tr", {}, ...first, el("th", { class: "num" }, "Cost per request (USD)"),
    el("th", { class: "num" }, "Quality"), el("th", { class: "num" }, "Strong share"), el("th", {}, "Hull"), el("th", {}, "Current")));
  const cells = (p, mark) => [td(fmt(p.cost), "num"), td(fmt(p.quality), "num"), td(fmt(p.strong_share, 3), "num"),
    td(p.on_hull ? "on hull" : ""), td(mark)];
  const ranges = el("table", { class: "curve-ranges" },
    el("caption", {}, `Operating points of the ${c.kind} router (${c.ranges.length} distinct, from ${c.points.length} settings of ${c.knob_name})`),
    head([el("th", {}, c.knob_name), el("th", { class: "num" }, "Settings")]),
    el("tbody", {}, ...c.ranges.map((r) => el("tr", {
      class: r.current ? "current" : "",
      dataset: { cost: String(r.cost), quality: String(r.quality), first: String(r.first), last: String(r.last) } },
    td(knobRange(r)), td(String(r.last - r.first + 1), "num"),
    ...cells(r, setting(r))))));
  const points = el("table", { class: "curve-points" },
    el("caption", {}, `Every setting of ${c.knob_name}`), head([el("th", {}, c.knob_name)]),
    el("tbody", {}, ...c.points.map((p) => el("tr", { dataset: { cost: String(p.cost), quality: String(p.quality), knob: String(p.knob) } },
      td(knobText(p.knob)), ...cells(p, setting(p))))));
  const all = el("details", { class: "curve-all" }, el("summary", {}, `All ${c.points.length} knob settings`), points);
  const parts = [el("p", { class: "router-current" }, `Current: ${current}${target ? ` (target ${target})` : ""}`),
                 drawCurve(c, role), ranges, all];
  if (c.singles.length) {
    parts.push(el("table", { class: "curve-singles" }, el("caption", {}, "Single models (every request to one model)"),
      el("thead", {}, el("tr", {}, el("th", {}, "Model"), el("th", {}, "Role"), el("th", { class: "num" }, "Cost per request (USD)"),
        el("th", { class: "num" }, "Quality"))),
      el("tbody", {}, ...c.singles.map((s) => el("tr", {}, td(s.model), td(c.roles[s.model] ?? "(not a candidate)"),
        td(fmt(s.cost), "num"), td(fmt(s.quality), "num"))))));
  }
  return parts;
}

// Where the quality axis starts: a round value (a multiple of a 1, 2 or 5 step of about a fifth of the span) below the
// lowest point, never below 0, so the curve fills the chart's height instead of its top third; 0 or below stays as is.
function axisStart(lo, hi) {
  if (!(lo > 0)) return Math.min(lo, 0);
  const raw = Math.max(hi - lo, Math.abs(hi) * 0.05, 1e-9) / 5, unit = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * unit).find((s) => s >= raw);
  const start = Math.floor(lo / step) * step;
  return Math.max(0, Number((start < lo ? start : start - step).toPrecision(6)));
}

function drawCurve(c, role) {
  const W = 640, H = 300, left = 64, right = 16, top = 14, bottom = 40;
  const svg = svgEl(null, "svg", { viewBox: `0 0 ${W} ${H}`, class: "curve-chart", role: "img",
                                   "aria-label": `Cost-quality curve of ${role}: listed in the table below` });
  const all = [...c.points, ...c.singles];
  const maxC = Math.max(...all.map((p) => p.cost), 1e-12);
  const qs = all.map((p) => p.quality);
  const hiQ = Math.max(...qs, 1e-9), loQ = axisStart(Math.min(...qs), hiQ);
  const x = (cost) => left + (cost / maxC) * (W - left - right);
  const y = (q) => top + (1 - (q - loQ) / Math.max(hiQ - loQ, 1e-12)) * (H - top - bottom);
  const title = (node, text) => svgEl(node, "title", {}, text);
  svgEl(svg, "line", { x1: left, y1: H - bottom, x2: W - right, y2: H - bottom, class: "axis" });
  svgEl(svg, "line", { x1: left, y1: top, x2: left, y2: H - bottom, class: "axis" });
  svgEl(svg, "text", { x: left, y: H - bottom + 16 }, "$0");
  svgEl(svg, "text", { x: W - right, y: H - bottom + 16, "text-anchor": "end" }, `$${fmt(maxC, 3)}`);
  svgEl(svg, "text", { x: (W + left) / 2, y: H - 6, "text-anchor": "middle" }, "cost per request (USD)");
  svgEl(svg, "text", { x: left - 6, y: top + 10, "text-anchor": "end" }, fmt(hiQ, 3));
  svgEl(svg, "text", { x: left - 6, y: H - bottom, "text-anchor": "end" }, fmt(loQ, 3));
  svgEl(svg, "text", { x: 12, y: (H - bottom + top) / 2, transform: `rotate(-90 12 ${(H - bottom + top) / 2})`, "text-anchor": "middle",
                       class: "quality-axis", "data-start": loQ }, loQ === 0 ? "quality" : `quality (axis from ${Number(loQ.toPrecision(4))})`);
  svgEl(svg, "polyline", { class: "hull", points: c.hull.map((h) => `${x(h.cost)},${y(h.quality)}`).join(" ") });
  for (const p of c.points) {
    title(svgEl(svg, "circle", { class: "point", cx: x(p.cost), cy: y(p.quality), r: 3.5, "data-cost": p.cost, "data-quality": p.quality }),
      `${c.knob_name} ${knobText(p.knob)}: quality ${fmt(p.quality)}, $${fmt(p.cost)}`);
  }
  for (const s of c.singles) {
    const cx = x(s.cost), cy = y(s.quality);
    title(svgEl(svg, "rect", { class: "single", x: cx - 4, y: cy - 4, width: 8, height: 8, "data-cost": s.cost, "data-quality": s.quality }),
      `${s.model}: quality ${fmt(s.quality)}, $${fmt(s.cost)}`);
    const rightHalf = cx > (W + left) / 2;  // labels face inwards, so none runs off the drawing
    svgEl(svg, "text", { x: rightHalf ? cx - 7 : cx + 7, y: cy - 6, class: "single-label", "text-anchor": rightHalf ? "end" : "start" }, s.model);
  }
  if (c.current) {
    title(svgEl(svg, "circle", { class: "current", cx: x(c.current.cost), cy: y(c.current.quality), r: 7,
                           "data-cost": c.current.cost, "data-quality": c.current.quality }),
      `current: quality ${fmt(c.current.quality)}, $${fmt(c.current.cost)}`);
  }
  return svg;
}

function liveParts(live) {
  const days = "the last 7 days";
  if (!live.requests) return [el("p", { class: "hint router-live" }, `No requests to this role in ${days}.`)];
  const mean = live.mean_cost_usd === null ? "unknown (no priced request)" : `$${fmt(live.mean_cost_usd)}`;
  const unpriced = live.requests - live.priced_requests;
  return [
    el("p", { class: "router-live" }, `In ${days}: ${live.requests} requests, mean cost ${mean} per request`
      + (unpriced ? ` (${unpriced} unpriced, not counted)` : "")),
    el("table", { class: "router-chosen" }, el("caption", {}, "Chosen candidate"),
      el("thead", {}, el("tr", {}, el("th", {}, "Candidate"), el("th", { class: "num" }, "Requests"), el("th", { class: "num" }, "Share"))),
      el("tbody", {}, ...live.chosen.map((r) => el("tr", {}, td(r.role ?? "(no decision)"), td(r.calls, "num"),
        td(`${((100 * r.calls) / live.requests).toFixed(1)}%`, "num"))))),
  ];
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("routers-refresh").addEventListener("click", loadRouters);
});
