// The tierflow console's registry editor (docs/console.md). Plain DOM, no build step.
// Every value from a file or the server is put into the page as text (textContent, .value):
// never as HTML.
"use strict";

const state = {
  csrf: "", file: null, kind: null, version: null, models: [], nodes: [], edges: [], providers: [],
  nodeRoles: {}, catalog: [], slugs: new Map(), modes: [], problems: [], checkTimer: null, checkSeq: 0,
  dirty: false,  // edits not saved yet: opening another file or leaving the page asks first
};

// --- small DOM helpers ---------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "aria") for (const [a, av] of Object.entries(v)) node.setAttribute("aria-" + a, av);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);  // strings become text
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

// An SVG element (el()'s twin for drawings): attributes set as strings, optional text (as text), appended to
// `parent` when one is given.
function svgEl(parent, tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  if (parent) parent.append(node);
  return node;
}

async function api(method, path, body) {
  const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = state.csrf;
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  if (resp.status === 401) { window.location.assign("/ui/login"); throw new Error("signed out"); }
  const data = await resp.json();
  return { status: resp.status, data };
}

// --- loading ---------------------------------------------------------------------------------------

async function start() {
  const session = (await api("GET", "/ui/api/session")).data;
  state.csrf = session.csrf;
  state.oneTime = session.one_time;  // signing out asks first: the token does not sign in twice
  const files = (await api("GET", "/ui/api/files")).data.files;
  const select = document.getElementById("file-select");
  for (const f of files) select.append(el("option", { value: f.path }, `${f.path} (${f.kind === "gateway" ? "gateway config" : "flow"})`));
  select.addEventListener("change", () => {
    if (state.dirty && !window.confirm(`Discard your unsaved edits to ${state.file}?`)) { select.value = state.file; return; }
    load(select.value);
  });
  window.addEventListener("beforeunload", (ev) => { if (state.dirty) ev.preventDefault(); });
  document.getElementById("logout-form").addEventListener("submit", signOut);
  document.getElementById("add-model").addEventListener("click", addModel);
  document.getElementById("save").addEventListener("click", saveFile);
  document.getElementById("reload").addEventListener("click", () => load(state.file));
  document.addEventListener("keydown", (ev) => {  // Ctrl+S / Cmd+S saves, as in an editor
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "s") { ev.preventDefault(); saveFile(); }
  });
  api("GET", "/ui/api/catalog").then(({ data }) => {
    state.catalog = data.groups || [];
    for (const g of state.catalog) for (const m of g.models) state.slugs.set(`${m.ref}/${m.model}`, m);
    state.modes = state.models.map(modeOf);
    render();
    document.body.dataset.catalog = "loaded";
  });
  const wanted = new URLSearchParams(window.location.search).get("file");
  if (files.length) await load(wanted && files.some((f) => f.path === wanted) ? wanted : files[0].path);
}

async function load(path) {
  const { status, data } = await api("GET", "/ui/api/file?path=" + encodeURIComponent(path));
  if (status !== 200) { showStatus(data.error ? data.error.message : "cannot open the file", true); return; }
  Object.assign(state, { file: data.path, kind: data.kind, version: data.version, models: data.models,
                         nodes: data.nodes, edges: data.edges, providers: data.providers, nodeRoles: {}, selectedNode: null });
  state.modes = state.models.map(modeOf);
  document.getElementById("file-select").value = data.path;
  document.getElementById("conflict").hidden = true;
  document.body.dataset.kind = data.kind;
  showStatus("");
  render();
  scheduleCheck(0);
  state.dirty = false;  // as loaded (scheduleCheck marks edits)
}

// --- editing -----------------------------------------------------------------------------------------

function isModelEntry(e) { return e && typeof e === "object" && !("split" in e) && !("router" in e); }

function roles() { return state.models.filter((e) => e && typeof e.role === "string").map((e) => e.role); }

function edited() { scheduleCheck(); render(); }

function addModel() {
  const taken = new Set(roles());
  let role = "fast";
  for (let n = 2; taken.has(role); n++) role = `fast_${n}`;
  const first = state.models[0] || {};
  state.models.push({ role, ref: first.ref || "", model: "" });
  state.modes.push("catalog");
  edited();
  focusNow(`m${state.models.length - 1}-role`);
}

function removeModel(i) {
  state.models.splice(i, 1);
  state.modes.splice(i, 1);
  edited();
  focusNow("add-model");
}

function setField(i, key, value) {
  const entry = state.models[i];
  const before = entry[key];
  if (value === "" || value === null || value === undefined) delete entry[key];
  else if (key in entry) entry[key] = value;
  else { entry[key] = value; headFirst(entry); }  // typed again after being erased: back in its place
  if (key === "role") {  // a rename: the nodes on the old name follow it, and every dropdown updates at once
    // a name erased on the way to a new one (backspace it all, then type) is remembered: the nodes wait on it
    const old = before || renamed.get(entry);
    if (!value) { if (before) renamed.set(entry, before); }
    else if (old && !roles().includes(old)) {
      for (const n of state.nodes) if (n.kind === "llm" && nodeRole(n) === old) state.nodeRoles[n.id] = value;
      renamed.delete(entry);
    }
    render();
  }
  scheduleCheck();
}

function headFirst(entry) {  // role, ref, model lead an entry, as people write them (and the file keeps them)
  const all = { ...entry };
  for (const k of Object.keys(entry)) delete entry[k];
  for (const k of ["role", "ref", "model"]) if (k in all) entry[k] = all[k];
  Object.assign(entry, all);
}

const renamed = new WeakMap();  // registry entry -> its role name before it was erased

function fallbacks(i) { return state.models[i].fallback || (state.models[i].fallback = []); }

// --- rendering ----------------------------------------------------------------------------------------

function render() {
  // Rebuilt from the state on every change; the focused control, its caret and selection are kept.
  const focused = document.activeElement;
  const active = focused && focused.id;
  let range = null;
  try { range = focused && typeof focused.selectionStart === "number" ? [focused.selectionStart, focused.selectionEnd, focused.selectionDirection] : null; } catch (e) { range = null; }
  renderModels();
  renderNodes();
  renderGraph();
  renderProblems();
  if (active) {
    const again = document.getElementById(active);
    if (again && again !== document.activeElement) {
      again.focus();
      if (range) { try { again.setSelectionRange(...range); } catch (e) { /* not a text control */ } }
    }
  }
}

function focusNow(id) { const n = document.getElementById(id); if (n) n.focus(); }  // after a render

function problemsFor(pred) { return state.problems.filter(pred); }

function renderModels() {
  const box = document.getElementById("models");
  // keep each Advanced section as the user left it: its toggle event comes later than a render can
  for (const d of box.querySelectorAll("details.advanced")) {
    const m = /^m(\d+)-advanced$/.exec(d.id);
    if (m) state[`open${m[1]}`] = d.open;
  }
  box.replaceChildren(...state.models.map((entry, i) => modelRow(entry, i)));
  document.getElementById("add-model").hidden = false;
}

function modelRow(entry, i) {
  const id = `m${i}`;
  const mine = problemsFor((p) => p.row === i);
  const row = el("div", { class: "model-row" + (mine.length ? " row-error" : ""), id: `${id}-row`, dataset: { index: String(i) } });
  if (!isModelEntry(entry)) {
    row.append(el("span", { class: "role-name" }, String(entry && entry.role)),
               el("span", { class: "hint" }, "split" in (entry || {}) ? "traffic split (edit it in the file)" : "routed role (edit it in the file)"));
    return row;
  }
  const pinned = i === 0;
  const role = el("input", { id: `${id}-role`, class: "role", value: pinned ? "primary" : (entry.role || ""),
                             readOnly: pinned, aria: { label: `Role of row ${i + 1}` },
                             oninput: (ev) => setField(i, "role", ev.target.value) });
  if (pinned && entry.role !== "primary") { entry.role = "primary"; scheduleCheck(); }
  row.append(el("label", { htmlFor: `${id}-role`, class: "sr" }, "Role"), role);
  if (pinned) row.append(el("span", { class: "pin", title: "The first row is the implicit default: it cannot be renamed or deleted" }, "pinned"));
  row.append(pickerFor(entry, i));
  if (!pinned) row.append(el("button", { type: "button", id: `${id}-delete`, class: "delete", aria: { label: `Delete role ${entry.role || ""}` },
                                         onclick: () => removeModel(i) }, "Delete"));
  row.append(advanced(entry, i));
  for (const p of mine) row.append(el("p", { class: "error" }, p.text));
  return row;
}

function pickerFor(entry, i) {
  return modelPicker({ target: entry, id: `m${i}`, what: `row ${i + 1}`, mode: state.modes[i] || "custom",
                       setMode: (m) => { state.modes[i] = m; }, set: (k, v) => setField(i, k, v), picked: edited });
}

const fallbackModes = new WeakMap();  // fallback entry -> the mode its picker was switched to

function fallbackPicker(fb, i, j) {
  return modelPicker({ target: fb, id: `m${i}-fb${j}`, what: `fallback ${j + 1}`,
                       mode: fallbackModes.get(fb) || modeOf(fb), setMode: (m) => fallbackModes.set(fb, m),
                       set: (k, v) => { fb[k] = v; scheduleCheck(); }, picked: edited });
}

function advanced(entry, i) {
  const id = `m${i}`;
  const box = el("details", { class: "advanced", id: `${id}-advanced`, open: !!state[`open${i}`],
                              ontoggle: (ev) => { state[`open${i}`] = ev.target.open; } },
                 el("summary", {}, "Advanced"));
  const chain = el("fieldset", { class: "fallbacks" }, el("legend", {}, "Fallback chain"));
  (entry.fallback || []).forEach((fb, j) => {
    chain.append(el("div", { class: "fallback" }, fallbackPicker(fb, i, j),
      el("button", { type: "button", id: `${id}-fb${j}-remove`, aria: { label: `Remove fallback ${j + 1}` },
                     onclick: () => { entry.fallback.splice(j, 1); if (!entry.fallback.length) delete entry.fallback; edited(); } }, "Remove")));
  });
  chain.append(el("button", { type: "button", id: `${id}-add-fallback`, class: "add-fallback",
                              onclick: () => {
                                const fb = { ref: entry.ref || "", model: "" };
                                fallbacks(i).push(fb); fallbackModes.set(fb, "catalog"); edited();
                                focusNow(`${id}-fb${entry.fallback.length - 1}-model`);
                              } },
                  "+ add fallback"));
  box.append(chain);
  box.append(el("label", { htmlFor: `${id}-temperature` }, "Temperature"),
             el("input", { id: `${id}-temperature`, type: "number", min: "0", max: "2", step: "0.1",
                           value: entry.temperature ?? "",
                           oninput: (ev) => setField(i, "temperature", ev.target.value === "" ? "" : Number(ev.target.value)) }));
  box.append(el("label", { htmlFor: `${id}-system` }, "System context"),
             el("textarea", { id: `${id}-system`, rows: 2, value: entry.system_context || "",
                              oninput: (ev) => setField(i, "system_context", ev.target.value) }));
  return box;
}

function renderNodes() {
  const box = document.getElementById("nodes");
  const llm = state.nodes.filter((n) => n.kind === "llm");
  document.getElementById("nodes-panel").hidden = state.kind !== "flow";
  box.replaceChildren(...llm.map((node) => nodeRow(node)));
}

function nodeRole(node) { return node.id in state.nodeRoles ? state.nodeRoles[node.id] : node.llm_role; }

function nodeRow(node, prefix = "node") {  // prefix "detail": the same control beside the flow drawing
  const declared = roles();
  const role = nodeRole(node);
  const orphan = role && !declared.includes(role);
  const id = `${prefix}-${node.id}-role`;
  const select = el("select", { id, class: orphan ? "select-error" : "", aria: { label: `Model role of node ${node.id}`, invalid: orphan ? "true" : "false" },
                                onchange: (ev) => { state.nodeRoles[node.id] = ev.target.value; edited(); } });
  if (!role) select.append(el("option", { value: "", selected: true }, `(default: ${declared[0] || "primary"})`));
  for (const r of declared) select.append(el("option", { value: r, selected: r === role }, r));
  if (orphan) select.append(el("option", { value: role, selected: true, class: "orphan" }, `${role} (not declared)`));
  const row = el("div", { class: "node-row", id: `${prefix}-${node.id}` },
                 el("label", { htmlFor: id }, node.label ? `${node.label} (${node.id})` : node.id), select);
  if (orphan) {
    row.append(el("p", { class: "error orphan-hint" }, `'${role}' is not declared: declare it in `,
                  el("a", { href: "#models-panel", onclick: (ev) => { ev.preventDefault(); focusModels(); } }, "Flow → Models")));
  }
  for (const p of problemsFor((p) => p.node === node.id)) row.append(el("p", { class: "error" }, p.text));
  return row;
}

function focusModels() {
  const panel = document.getElementById("models-panel");
  panel.scrollIntoView();
  const first = panel.querySelector("input:not([readonly]), select, button");
  if (first) first.focus();
}

function renderProblems() {
  const box = document.getElementById("problems");
  if (!state.problems.length) { box.replaceChildren(el("p", { class: "ok" }, "No problems.")); return; }
  box.replaceChildren(el("ul", {}, ...state.problems.map((p) => el("li", { class: "error" }, p.text))));
}

// --- checking and saving ------------------------------------------------------------------------------

function payload() {
  return { path: state.file, version: state.version, models: state.models, node_roles: state.nodeRoles };
}

function scheduleCheck(delay = 250) {
  clearTimeout(state.checkTimer);
  state.checkSeq++;  // a check already in flight answers for an older edit: its result must not show as current
  document.body.dataset.pending = "1";  // tests (and people) can tell when the shown result is current
  if (!state.dirty && state.version) showStatus("");  // a "Saved." from before this edit is no longer true
  state.dirty = true;
  state.checkTimer = setTimeout(runCheck, delay);
}

async function runCheck() {
  const seq = ++state.checkSeq;
  const { data } = await api("POST", "/ui/api/check", payload());
  if (seq !== state.checkSeq) return;  // a newer edit is being checked
  applyCheck(data);
}

function applyCheck(data) {
  state.problems = data.problems || [];
  document.getElementById("yaml-preview").textContent = data.yaml || "";
  // the compiler writes nothing on any problem (as `tierflow compile`): say so rather than show an empty box
  document.getElementById("ir-preview").textContent = data.ir || (state.problems.length ? "(none until the problems listed under Problems are fixed)" : "");
  render();
  document.body.dataset.pending = "0";
}

async function saveFile() {
  clearTimeout(state.checkTimer);
  state.checkSeq++;
  document.body.dataset.pending = "1";
  const { status, data } = await api("POST", "/ui/api/save", payload());
  if (status === 409) {
    document.getElementById("conflict-message").textContent = data.message;
    document.getElementById("conflict-diff").textContent = data.diff;
    document.getElementById("conflict").hidden = false;
    showStatus("Not saved: the file changed on disk.", true);
    document.body.dataset.pending = "0";
    return;
  }
  if (status !== 200) {
    if (data.problems) applyCheck(data);
    showStatus(data.error ? data.error.message : "Not saved: fix the problems first.", true);
    document.body.dataset.pending = "0";
    return;
  }
  state.version = data.version;
  for (const n of state.nodes) if (n.id in state.nodeRoles) n.llm_role = state.nodeRoles[n.id];
  state.nodeRoles = {};
  state.dirty = false;
  applyCheck(data);
  showStatus(data.reloaded ? "Saved; the gateway now serves it." : "Saved.");
}

async function signOut(ev) {
  // a write like any other: it carries the CSRF token, which a plain form post cannot
  ev.preventDefault();
  if (state.dirty && !window.confirm(`Discard your unsaved edits to ${state.file} and sign out?`)) return;
  if (state.oneTime && !window.confirm("You signed in with the one-time token printed at start: once signed out, "
      + "you cannot sign in again until tierflow serve is restarted (or TIERFLOW_ADMIN_KEY is set). Sign out?")) return;
  state.dirty = false;
  await fetch("/ui/logout", { method: "POST", headers: { "X-CSRF-Token": state.csrf }, credentials: "same-origin",
                              redirect: "manual" });
  window.location.assign("/ui/login");
}

function showStatus(text, bad = false) {
  const box = document.getElementById("save-status");
  box.textContent = text;
  box.className = bad ? "error" : "";
}

document.addEventListener("DOMContentLoaded", start);
