// The runs, cost and keys views (docs/console.md). Uses el(), svgEl() and api() from console.js.
// Prompts, answers and every other ledger value are put into the page as text, never as HTML.
"use strict";

const views = { runsCursor: null, runsQuery: "" };

function showView(name) {
  for (const tab of document.querySelectorAll("nav .tab")) tab.setAttribute("aria-pressed", String(tab.dataset.view === name));
  for (const v of document.querySelectorAll("main.view")) v.hidden = v.id !== `view-${name}`;
  for (const n of document.querySelectorAll(".registry-only")) n.hidden = name !== "registry";
  if (name === "runs") loadRuns(true);
  if (name === "cost") loadCost();
  if (name === "keys") loadKeys();
  if (name === "routers") loadRouters();
}

// Times are shown in UTC (as the ledger and `tierflow cost report` keep them), so a typed Since/Until is read
// as UTC too, whatever the browser's time zone: a time copied from the table filters at that time.
function unix(value) { return value ? String(new Date(value + "Z").getTime() / 1000) : ""; }
function when(ts) { return new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19); }
function fixed(v, digits) { return v === null || v === undefined ? "" : Number(v).toFixed(digits); }
function usd(v) { return v === null || v === undefined ? "unknown" : Number(v).toFixed(6); }
function td(text, cls) { return el("td", cls ? { class: cls } : {}, text === null || text === undefined ? "" : String(text)); }

// --- runs --------------------------------------------------------------------------------------------------

async function loadRuns(first) {
  if (first) {
    const form = new FormData(document.getElementById("runs-filters"));
    const q = new URLSearchParams();
    for (const [k, v] of form.entries()) if (v) q.set(k, k === "since" || k === "until" ? unix(v) : v);
    views.runsQuery = q.toString();
    views.runsCursor = null;
    document.querySelector("#runs-table tbody").replaceChildren();
  }
  const q = new URLSearchParams(views.runsQuery);
  if (views.runsCursor) q.set("before", views.runsCursor);
  const { status, data } = await api("GET", "/ui/api/runs?" + q.toString());
  const body = document.querySelector("#runs-table tbody");
  if (status !== 200) { body.replaceChildren(el("tr", {}, el("td", { colSpan: 11, class: "error" }, data.error.message))); return; }
  for (const r of data.data) {
    const tokens = (r.input_tokens || 0) + (r.output_tokens || 0);
    body.append(el("tr", { dataset: { request: r.request_id } },
      td(when(r.ts)), td(r.role || r.requested), td(r.model), td(r.key_id), td(r.status, "num"), td(r.outcome),
      td(tokens, "num"), td(usd(r.cost_usd), "num"), td(Math.round(r.latency_ms), "num"), td(r.attempts, "num"),
      el("td", {}, el("button", { type: "button", onclick: () => loadRun(r.request_id) }, "Details"))));
  }
  if (!body.children.length) {  // an empty table says why, and what the filters take
    body.append(el("tr", { class: "empty" }, el("td", { colSpan: 11, class: "hint" }, data.message ? `No requests: ${data.message}.` : views.runsQuery
      ? "No requests match these filters (Role is a role's exact name, Model a provider/model, Key a key's id or name from the Keys view)."
      : "No requests yet: send one to this gateway's /v1 API.")));
  }
  views.runsCursor = data.next;
  document.getElementById("runs-next").hidden = !data.next;
  document.body.dataset.runs = String(body.querySelectorAll("tr[data-request]").length);
}

async function loadRun(id) {
  const { data } = await api("GET", "/ui/api/runs/" + encodeURIComponent(id));
  const fields = document.getElementById("run-fields");
  fields.replaceChildren();
  for (const k of ["request_id", "ts", "key_id", "user", "requested", "role", "model", "provider", "status", "outcome",
                   "error_code", "input_tokens", "output_tokens", "cost_usd", "charged_usd", "latency_ms", "ttft_ms", "variant"]) {
    if (data[k] === null || data[k] === undefined) continue;
    const shown = k === "ts" ? `${when(data[k])} UTC` : k.endsWith("_ms") ? fixed(data[k], 1) : String(data[k]);
    fields.append(el("dt", {}, k), el("dd", {}, shown));
  }
  document.querySelector("#run-attempts tbody").replaceChildren(...data.attempt_rows.map((a) => el("tr", {},
    td(a.n, "num"), td(a.target), td(a.outcome), td(a.error), td(a.status_code, "num"), td(fixed(a.duration_s, 3), "num"))));
  document.getElementById("run-decision").textContent = data.decision ? JSON.stringify(data.decision, null, 2) : "(none)";
  const messages = Array.isArray(data.messages) ? data.messages : [];
  document.getElementById("run-messages").replaceChildren(...(messages.length ? messages.map((m) => el("div", { class: "message" },
    el("span", { class: "who" }, String(m.role)), typeof m.content === "string" ? m.content : JSON.stringify(m.content)))
    : [el("p", { class: "hint" }, "Not stored (gateway.store_content is off).")]));
  document.getElementById("run-answer").textContent = data.answer ?? (data.status >= 400 ? "(none: the request failed)" : "(not stored)");
  const panel = document.getElementById("run-detail");
  panel.hidden = false;
  panel.dataset.request = id;
}

// --- cost --------------------------------------------------------------------------------------------------

async function loadCost() {
  const form = new FormData(document.getElementById("cost-form"));
  const q = new URLSearchParams({ by: form.get("by"), bucket: form.get("bucket") });
  const { data } = await api("GET", "/ui/api/cost?" + q.toString());
  document.querySelector("#cost-table tbody").replaceChildren(...data.data.map((r) => el("tr", {},
    td(when(r.bucket)), td(r.group ?? "(none)"), td(r.calls, "num"), td(r.tokens, "num"), td(usd(r.cost_usd), "num"),
    td(r.unpriced_calls, "num"))));
  drawCost(data.data, data.bucket);
  document.body.dataset.cost = String(data.data.length);
}

function drawCost(rows, bucket) {
  const svg = document.getElementById("cost-chart");
  svg.replaceChildren();
  const buckets = [...new Set(rows.map((r) => r.bucket))];
  const groups = [...new Set(rows.map((r) => r.group ?? "(none)"))];
  const totals = buckets.map((b) => rows.filter((r) => r.bucket === b).reduce((s, r) => s + r.cost_usd, 0));
  const max = Math.max(...totals, 1e-9);
  const W = 900, H = 240, left = 60, bottom = 30, bar = Math.max(4, Math.min(60, (W - left) / Math.max(1, buckets.length) - 6));
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 20 + 16 * Math.ceil(groups.length / 6)}`);
  const colour = (g) => `hsl(${(groups.indexOf(g) * 67) % 360} 55% 55%)`;
  svgEl(svg, "line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: "axis" });
  // the top of the scale is the tallest bar's total, to two significant digits ($0.000068, not a rounded $0.0001)
  svgEl(svg, "text", { x: 4, y: 14, class: "scale-top" }, `$${Number(max.toPrecision(2))}`);
  buckets.forEach((b, i) => {
    let y = H - bottom;
    const x = left + i * (bar + 6);
    for (const r of rows.filter((q) => q.bucket === b)) {
      const h = (r.cost_usd / max) * (H - bottom - 20);
      y -= h;
      svgEl(svgEl(svg, "rect", { x, y, width: bar, height: Math.max(h, 0), fill: colour(r.group ?? "(none)") }), "title", {},
        `${r.group}: $${usd(r.cost_usd)}, ${r.calls} calls`);
    }
    svgEl(svg, "text", { x, y: H - bottom + 14 }, bucket === "day" ? when(b).slice(5, 10) : when(b).slice(5, 16));
  });
  groups.forEach((g, i) => {
    const x = left + (i % 6) * 140, y = H + 8 + 16 * Math.floor(i / 6);
    svgEl(svg, "rect", { x, y, width: 10, height: 10, fill: colour(g) });
    svgEl(svg, "text", { x: x + 14, y: y + 9 }, g);
  });
}

// --- keys --------------------------------------------------------------------------------------------------

async function loadKeys() {
  const { data } = await api("GET", "/ui/api/keys");
  document.querySelector("#keys-table tbody").replaceChildren(...data.data.map((k) => {
    const limits = [["rpm", k.rpm], ["tpm", k.tpm], ["usd/day", k.usd_per_day], ["usd/month", k.usd_per_month]]
      .filter(([, v]) => v !== null).map(([n, v]) => `${n}=${v}`).join(", ");
    return el("tr", { dataset: { key: k.key_id } }, td(k.key_id), td(k.name), td(k.revoked ? "revoked" : "active"),
      td(k.roles ? k.roles.join(", ") : "all"), td(limits || "none"), td(usd(k.spend.day_usd), "num"),
      td(usd(k.spend.month_usd), "num"),
      el("td", {}, k.revoked ? "" : el("button", { type: "button", aria: { label: `Revoke ${k.name}` },
                                                   onclick: () => revokeKey(k.key_id, k.name) }, "Revoke")));
  }));
}

async function createKey(ev) {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const body = { name: form.get("name") };
  const roles = String(form.get("roles") || "").split(",").map((r) => r.trim()).filter(Boolean);
  if (roles.length) body.roles = roles;
  // the whole text as a number ("6O" is not 6): what is not one goes as typed, and the server says what it wants
  for (const k of ["rpm", "tpm", "usd_per_day", "usd_per_month"]) {
    const text = String(form.get(k) || "").trim();
    if (text) body[k] = Number.isFinite(Number(text)) ? Number(text) : text;
  }
  document.getElementById("key-created").hidden = true;  // an earlier key's secret is not this one's
  const { status, data } = await api("POST", "/ui/api/keys", body);
  const error = document.getElementById("key-error");
  error.textContent = status === 201 ? "" : data.error.message;
  if (status === 201) {
    document.getElementById("key-secret").value = data.key;
    document.getElementById("key-created").hidden = false;
    ev.target.reset();
  }
  await loadKeys();
}

async function revokeKey(id, name) {
  // for good: ask first, as a click that cannot be undone should
  if (!window.confirm(`Revoke the key ${name} (${id})? Requests with it are refused from now on; this cannot be undone.`)) return;
  await api("POST", `/ui/api/keys/${encodeURIComponent(id)}/revoke`, {});
  await loadKeys();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll("nav .tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  document.getElementById("runs-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadRuns(true); });
  document.getElementById("runs-next").addEventListener("click", () => loadRuns(false));
  document.getElementById("cost-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadCost(); });
  document.getElementById("key-form").addEventListener("submit", createKey);
  const view = new URLSearchParams(window.location.search).get("view");
  if (view && view !== "registry") showView(view);
});
