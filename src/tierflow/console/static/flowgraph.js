// The flow drawing (docs/console.md, "The flow view"): nodes where the file places them, else in layers
// left to right by topological depth; edges with arrowheads and their label (or condition, or source handle); each node a focusable button that, on click,
// Enter or Space, shows its details below the drawing (beside it on a wide screen; for an LLM node, its role
// dropdown and the compile diagnostics for it). The drawing scales to the panel's width, never below
// MIN_SCALE (its labels stay readable; the panel scrolls beyond that) nor above 1. Uses el(), svgEl(), state, roles(), nodeRole(), nodeRow() and problemsFor() from console.js.
"use strict";

const NODE_W = 180, NODE_H = 44, GAP_X = 50, GAP_Y = 30, MIN_SCALE = 0.6;

function layered(nodes, edges) {
  // depth: the longest path from a node without inputs (edges that close a cycle are ignored)
  const ids = nodes.map((n) => n.id);
  const outs = new Map(ids.map((id) => [id, []]));
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of edges) {
    if (outs.has(e.source) && indeg.has(e.target) && e.source !== e.target) {
      outs.get(e.source).push(e.target);
      indeg.set(e.target, indeg.get(e.target) + 1);
    }
  }
  const depth = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  const seen = new Set();
  while (queue.length) {
    const id = queue.shift();
    seen.add(id);
    for (const t of outs.get(id)) {
      depth.set(t, Math.max(depth.get(t), depth.get(id) + 1));
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  for (const id of ids) if (!seen.has(id)) depth.set(id, Math.max(...[...seen].map((s) => depth.get(s) + 1), 0));  // in a cycle
  const rows = new Map();
  const pos = new Map();
  for (const id of ids) {  // within a layer, nodes keep the file's order
    const d = depth.get(id);
    const row = rows.get(d) || 0;
    rows.set(d, row + 1);
    pos.set(id, { x: d * (NODE_W + GAP_X), y: row * (NODE_H + GAP_Y) });
  }
  return pos;
}

function placed(nodes, edges) {
  const given = nodes.every((n) => n.position && typeof n.position.x === "number" && typeof n.position.y === "number");
  if (given) return new Map(nodes.map((n) => [n.id, { x: n.position.x, y: n.position.y }]));
  return layered(nodes, edges);
}

function renderGraph() {
  const svg = document.getElementById("flow-graph");
  document.getElementById("flow-panel").hidden = state.kind !== "flow";
  svg.replaceChildren();
  if (state.kind !== "flow") { renderNodeDetail(); return; }
  const pos = placed(state.nodes, state.edges);
  const xs = [...pos.values()].map((p) => p.x), ys = [...pos.values()].map((p) => p.y);
  const minX = xs.length ? Math.min(...xs) : 0, minY = ys.length ? Math.min(...ys) : 0;  // no empty margin
  const width = Math.max(...xs, 0) - minX + NODE_W + 40, height = Math.max(...ys, 0) - minY + NODE_H + 40;
  svg.setAttribute("viewBox", `${minX - 10} ${minY - 10} ${width} ${height}`);
  svg.style.minWidth = `${Math.round(width * MIN_SCALE)}px`;  // CSS: width 100%, height from the viewBox
  svg.style.maxWidth = `${Math.round(width)}px`;
  svg.dataset.width = String(width);
  const defs = svgEl(svg, "defs", {});
  const marker = svgEl(defs, "marker", { id: "flow-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8,
                                        markerHeight: 8, orient: "auto-start-reverse" });
  svgEl(marker, "path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" });
  for (const e of state.edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
    const bend = Math.max(30, Math.abs(x2 - x1) / 2);
    svgEl(svg, "path", { d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`, class: "edge",
                        "marker-end": "url(#flow-arrow)", "data-source": e.source, "data-target": e.target });
    if (e.caption) {  // the label, condition or source handle, at the curve's middle (t = 0.5), just above it
      const g = svgEl(svg, "g", { class: "edge-caption", "data-source": e.source, "data-target": e.target });
      svgEl(g, "title", {}, e.caption);  // the whole caption; the drawn one is cut to the room between the nodes
      const text = svgEl(g, "text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 5, class: "edge-label", "text-anchor": "middle" },
                         e.caption);
      fitText(text, Math.max(GAP_X + 40, Math.abs(x2 - x1) - 10));
    }
  }
  const declared = roles();
  for (const n of state.nodes) {
    const p = pos.get(n.id);
    const role = n.kind === "llm" ? nodeRole(n) : null;
    const bad = problemsFor((q) => q.node === n.id).length > 0 || (role && !declared.includes(role));
    const kind = n.kind === "llm" ? `llm · ${role || "default"}` : n.kind;
    const g = svgEl(svg, "g", { id: `graph-${n.id}`, class: "graph-node" + (state.selectedNode === n.id ? " selected" : ""),
                               tabindex: 0, role: "button", "data-node": n.id,
                               "aria-label": `${n.label || n.id} (${kind})${bad ? ", has problems" : ""}: show details`,
                               "aria-pressed": String(state.selectedNode === n.id) });
    svgEl(g, "rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 6,
                      class: `node kind-${n.kind}${bad ? " node-error" : ""}`, "data-node": n.id });
    const label = n.label || n.id;  // a long label is cut to the box; the whole one is in the aria-label and title
    svgEl(g, "title", {}, label);
    fitText(svgEl(g, "text", { x: p.x + 8, y: p.y + 20, class: "node-label" }, label), NODE_W - 14);
    svgEl(g, "text", { x: p.x + 8, y: p.y + 38, class: "node-kind" }, kind);
    g.addEventListener("click", () => selectNode(n.id));
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); selectNode(n.id); }
    });
  }
  renderNodeDetail();
}

function fitText(node, room) {  // cut a label that overflows its box (measured where it is drawn) to end in "…"
  let text = node.textContent;
  while (text.length > 1 && node.getComputedTextLength() > room) {
    text = text.slice(0, -1);
    node.textContent = `${text.trimEnd()}…`;
  }
}

function selectNode(id) {
  state.selectedNode = id;
  render();
  const first = document.querySelector("#node-detail select, #node-detail a");
  if (first) first.focus();  // the keyboard goes on to the node's controls
}

function renderNodeDetail() {
  const box = document.getElementById("node-detail");
  const node = state.kind === "flow" && state.nodes.find((n) => n.id === state.selectedNode);
  if (!node) { box.replaceChildren(el("p", { class: "hint" }, "Select a node (click, or Tab to it and press Enter) to see its details.")); return; }
  const parts = [el("h3", {}, node.label ? `${node.label} (${node.id})` : node.id), el("p", { class: "hint" }, `kind: ${node.kind}`)];
  if (node.kind === "llm") parts.push(nodeRow(node, "detail"));  // the same control as the LLM nodes list
  else {
    const mine = problemsFor((p) => p.node === node.id);
    parts.push(...(mine.length ? mine.map((p) => el("p", { class: "error" }, p.text)) : [el("p", { class: "ok" }, "No problems.")]));
  }
  box.replaceChildren(...parts);
}
