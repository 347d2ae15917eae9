// The drawer: probe detail (lineage, mind, trust, messages, cargo, tech, recent events) and
// system detail (bodies).

import { esc, hullBar, joules, kg, num, statusPill, TECH_NAMES, STAR_COLORS } from "./format.js";
import { EventFeed } from "./feed.js";

function link(id, kind = "probe") {
  return `<a class="link" data-${kind}="${esc(id)}">${esc(id)}</a>`;
}

const TRAITS = ["curiosity", "caution", "sociability", "humor", "empathy", "ambition", "creativity",
  "stubbornness", "existential_angst", "nostalgia_for_earth"];

// Personality traits are on [-1, 1]: the bar grows from the middle, right for positive values.
function traitRows(personality) {
  return TRAITS.filter((t) => typeof personality[t] === "number").map((t) => {
    const v = Math.max(-1, Math.min(1, personality[t]));
    const left = v < 0 ? 50 + v * 50 : 50;
    return `<span>${esc(t.replaceAll("_", " "))}</span><span class="track mid"><i style="margin-left:${left}%;width:${Math.abs(v) * 50}%"></i></span><span class="v">${num(v, 2)}</span>`;
  }).join("");
}

// Trust: the probe's own table ({probe id: value} or a list of {probe_id, trust}), plus what
// nearby probes show; strongest first.
function trustEntries(p) {
  const out = new Map();
  const t = p.trust;
  if (Array.isArray(t)) for (const e of t) { if (e && e.probe_id !== undefined) out.set(e.probe_id, e.trust ?? e.value); }
  else if (t && typeof t === "object") for (const [k, v] of Object.entries(t)) out.set(k, typeof v === "object" && v ? v.trust ?? v.value : v);
  for (const n of p.nearby_probes || []) if (n.trust && !out.has(n.probe_id)) out.set(n.probe_id, n.trust);
  return [...out.entries()].filter(([, v]) => typeof v === "number").sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
}

export function mindHtml(p) {
  const traits = p.personality ? traitRows(p.personality) : "";
  const quirks = (p.quirks || []).map((q) => `<span class="chip">${esc(q)}</span>`).join("");
  const memories = (p.memories || []).slice(0, 6).map((m) =>
    `<li><span class="muted">t ${esc(m.tick ?? "?")}</span> · ${esc(m.text || m.type)} <span class="muted">(${num(m.weight, 2)})</span></li>`).join("");
  if (!traits && !quirks && !p.monologue && !memories) return "";
  return `
    <h4>Mind</h4>
    ${p.monologue ? `<p class="monologue">“${esc(p.monologue)}”</p>` : ""}
    ${traits ? `<div class="hbars traits">${traits}</div>` : ""}
    ${quirks ? `<div class="chips quirks">${quirks}</div>` : ""}
    ${memories ? `<ul class="evlist memories">${memories}</ul>` : ""}`;
}

export function socialHtml(p) {
  const trust = trustEntries(p).slice(0, 12).map(([id, v]) =>
    `<span>${link(id)}</span><span class="track mid"><i style="margin-left:${v < 0 ? 50 + Math.max(-1, v) * 50 : 50}%;width:${Math.min(1, Math.abs(v)) * 50}%"></i></span><span class="v">${num(v, 2)}</span>`).join("");
  const inbox = (p.inbox || []).slice(-10).reverse().map((msg) =>
    `<li><span class="muted">t ${esc(msg.arrival_tick ?? msg.sent_tick ?? "?")}</span> · ${msg.from ? link(msg.from) : "?"}${msg.broadcast ? ' <span class="muted">(broadcast)</span>' : ""}: ${esc(msg.content)}</li>`).join("");
  return `
    <h4>Trust</h4>
    ${trust ? `<div class="hbars trust">${trust}</div>` : "<span class=muted>no dealings with other probes yet</span>"}
    <h4>Messages</h4>
    <ul class="evlist inbox">${inbox || "<li class=muted>none received</li>"}</ul>`;
}

export function probeHtml(p, { systemName, recent }) {
  const sysLabel = p.system_name || systemName(p.system) || p.system;
  const sys = p.system ? `<a class="link" data-system="${esc(p.system)}" title="${esc(p.system)}">${esc(sysLabel)}</a>` : "—";
  const ctl = p.controller ? (typeof p.controller === "string" ? p.controller : p.controller.name || p.controller.kind) : "none";
  const cargo = p.cargo || {};
  const cap = p.cargo_capacity || 30000;
  const cargoRows = Object.entries(cargo).map(([r, v]) =>
    `<span>${esc(r)}</span><span class="track"><i style="width:${Math.min(100, (v / cap) * 100 * 4)}%"></i></span><span class="v">${kg(v)}</span>`).join("");
  const tech = Array.isArray(p.tech) ? p.tech : [];
  const techRows = tech.map((lvl, i) =>
    `<span>${esc(TECH_NAMES[i] || `tech ${i}`)}</span><span class="track"><i style="width:${lvl * 10}%"></i></span><span class="v">${esc(lvl)}</span>`).join("");
  const children = p.children || [];
  const evs = [];
  for (const e of p.events || []) evs.push(e);
  const key = (e) => `${e.tick}|${e.type}|${e.subtype ?? ""}`;
  const seen = new Set(evs.map(key));
  for (const e of recent) if (!seen.has(key(e))) { seen.add(key(e)); evs.push(e); }
  evs.sort((a, b) => (b.tick ?? 0) - (a.tick ?? 0));
  const activity = p.activity ? `${esc(p.activity.kind)} ${Math.round((p.activity.progress || 0) * 100)}% (${esc(p.activity.ticks_remaining)} ticks left)` : "—";
  return `
    <dl class="kv">
      <dt>status</dt><dd>${statusPill(p.status)}</dd>
      <dt>hull</dt><dd>${hullBar(p.hull)}</dd>
      <dt>energy</dt><dd>${joules(p.energy)}</dd>
      <dt>fuel</dt><dd>${kg(p.fuel)}</dd>
      <dt>location</dt><dd>${esc(p.location || "—")}${p.body_name ? ` · ${esc(p.body_name)} <span class="muted">(${esc(p.body_type || "")})</span>` : ""}</dd>
      <dt>system</dt><dd>${sys}</dd>
      <dt>activity</dt><dd>${activity}</dd>
      <dt>last action</dt><dd>${p.last_action ? `${esc(p.last_action.action)} ${p.last_action.ok ? "✓" : `✗ <span class="muted">${esc(p.last_action.reason || "")}</span>`}` : "—"}</dd>
      <dt>controller</dt><dd>${esc(ctl)}</dd>
      <dt>generation</dt><dd>${esc(p.generation ?? "—")}${p.born_tick !== undefined ? ` <span class="muted">· born t ${esc(p.born_tick)}</span>` : ""}</dd>
    </dl>
    <h4>Lineage</h4>
    <dl class="kv">
      <dt>parent</dt><dd>${p.parent_id ? link(p.parent_id) : "<span class=muted>none (the original)</span>"}</dd>
      <dt>children</dt><dd>${children.length ? `<span class="chips">${children.map((c) => link(c)).join("")}</span>` : "<span class=muted>none yet</span>"}</dd>
    </dl>
    ${mindHtml(p)}
    ${socialHtml(p)}
    <h4>Cargo</h4>
    <div class="hbars">${cargoRows || "<span class=muted>empty</span>"}</div>
    <h4>Tech</h4>
    <div class="hbars">${techRows || "<span class=muted>unknown</span>"}</div>
    <h4>Recent events</h4>
    <ul class="evlist">${evs.slice(0, 25).map((e) => `<li><span class="muted">t ${esc(e.tick ?? "?")}</span> · <span class="k k-${esc(["discovery", "hazard", "born", "destroyed"].includes(e.type) ? e.type : "other")}">${esc(e.type)}</span> ${esc(EventFeed.describe(e))}</li>`).join("") || "<li class=muted>none seen yet</li>"}</ul>`;
}

export function systemHtml(s, probesHere) {
  const pos = s.position || [];
  const bodies = s.bodies || [];
  const rows = bodies.map((b) => {
    const res = Object.entries(b.resources || {}).filter(([, v]) => v > 0).sort((a, c) => c[1] - a[1]).slice(0, 3)
      .map(([r, v]) => `${esc(r)} ${num(v, 2)}`).join(", ");
    return `<tr class="${b.parent ? "moon" : ""}"><td>${esc(b.name)}</td><td>${esc(b.type)}</td><td class="num">${num(b.orbit_au, 2)}</td>` +
      `<td class="num">${esc(b.survey_level ?? 0)}</td><td class="muted">${res || (b.landable ? "landable" : "")}</td></tr>`;
  }).join("");
  const col = STAR_COLORS[s.star?.class] || "#fff";
  return `
    <dl class="kv">
      <dt>star</dt><dd><span style="color:${col}">●</span> class ${esc(s.star?.class || "?")} · L ${num(s.star?.luminosity, 3)} · M ${num(s.star?.mass, 2)}</dd>
      <dt>position</dt><dd>${pos.map((v) => num(v, 2)).join(", ")} ly</dd>
      <dt>sector</dt><dd>${esc((s.sector || []).join(", "))}</dd>
      <dt>explored</dt><dd>${s.explored ? "yes" : "no"}</dd>
      <dt>probes here</dt><dd>${probesHere}</dd>
      <dt>id</dt><dd class="muted">${esc(s.id)}</dd>
    </dl>
    <h4>Bodies (${bodies.length})</h4>
    <table class="bodies"><thead><tr><th>name</th><th>type</th><th class="num">AU</th><th class="num">survey</th><th>resources</th></tr></thead>
    <tbody>${rows || "<tr><td colspan=5 class=muted>none</td></tr>"}</tbody></table>`;
}
