// The Catalog/Custom model picker of the registry editor (docs/console.md): one for each model row
// and one for each fallback, so a backup model is picked like a model. Loaded after console.js,
// which owns `state`, `el` and `render` (called only once the page has loaded). Values go into the
// page as text (.value, textContent).
"use strict";

function modeOf(entry) {  // a target the catalog knows opens in Catalog mode; anything else (a legacy entry too) in Custom
  return entry && state.slugs.has(`${entry.ref}/${entry.model}`) ? "catalog" : "custom";
}

function formatCtx(n) { return n >= 1000 ? `${Math.round(n / 1000)}k` : String(n); }

// target: the {ref, model} object shown; id: the prefix of the controls' ids; what: how a control is named
// to a screen reader; mode/setMode: the picker's mode; set(key, value): a typed ref or model;
// picked(): after a catalog pick has been written into target. Looking never writes: only set and a pick do.
function modelPicker({ target, id, what, mode, setMode, set, picked }) {
  const wrap = el("span", { class: "picker" });
  wrap.append(el("select", { id: `${id}-mode`, aria: { label: `Picker of ${what}` },
                             onchange: (ev) => { setMode(ev.target.value); render(); } },
                 el("option", { value: "catalog", selected: mode === "catalog" }, "Catalog"),
                 el("option", { value: "custom", selected: mode === "custom" }, "Custom")));
  if (mode === "catalog") {
    const pick = el("select", { id: `${id}-model`, class: "catalog-pick", aria: { label: `Model of ${what}` },
                                onchange: (ev) => {
                                  const m = state.slugs.get(ev.target.value);
                                  if (m) { target.ref = m.ref; target.model = m.model; picked(); }
                                } });
    const current = `${target.ref || ""}/${target.model || ""}`;
    if (!state.slugs.has(current)) {
      pick.append(el("option", { value: "", selected: true }, target.model ? `${current} (not in the catalog)` : "Pick a model…"));
    }
    for (const g of state.catalog) {
      const group = el("optgroup", { label: g.prefix });
      for (const m of g.models) {
        const ctx = m.context_window ? ` · ${formatCtx(m.context_window)} context` : "";
        group.append(el("option", { value: `${m.ref}/${m.model}`, selected: current === `${m.ref}/${m.model}` },
                        `${m.display_name}${ctx}`));
      }
      pick.append(group);
    }
    wrap.append(pick);
  } else {
    wrap.append(el("input", { id: `${id}-ref`, class: "ref", value: target.ref || "", placeholder: "ref",
                              aria: { label: `Provider (ref) of ${what}` }, oninput: (ev) => set("ref", ev.target.value) }),
                el("input", { id: `${id}-model-text`, class: "model", value: target.model || "", placeholder: "model",
                              aria: { label: `Model of ${what}` }, oninput: (ev) => set("model", ev.target.value) }));
  }
  return wrap;
}
