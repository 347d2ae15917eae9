// universed dashboard: wires the stream, the REST API and the views together.
// Rendering is decoupled from the stream: messages only update state and mark views dirty; one
// requestAnimationFrame loop draws. A burst of ticks therefore costs one render, and the page
// never pushes back on the daemon (the daemon coalesces slow clients on its side too).

import { Api, ApiError, getToken, setToken } from "./api.js";
import { DashboardStream } from "./stream.js";
import { GalaxyMap } from "./map.js";
import { ProbeTable } from "./table.js";
import { EventFeed } from "./feed.js";
import { LineChart, Series } from "./charts.js";
import { probeHtml, systemHtml } from "./detail.js";
import { int, num, esc } from "./format.js";

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/[^/]*$/, "").replace(/\/$/, "");
// A token in the page's URL (http://host:port/?token=...) is kept and taken out of the address
// bar. Browsers cannot set headers on a WebSocket, so the stream carries it as ?token=.
const urlToken = new URLSearchParams(location.search).get("token");
if (urlToken) {
  setToken(urlToken);
  window.history.replaceState(null, "", location.pathname + location.hash);
}
// The page reads universed's own (readable) shapes: names for systems, events and structures.
const wsUrl = () => {
  const token = getToken();
  const query = `?shape=readable${token ? `&token=${encodeURIComponent(token)}` : ""}`;
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${base}/ws/dashboard${query}`;
};

// ---------------------------------------------------------------- state
const state = {
  tick: null, mode: null, tickRate: null, tps: null, probes: null, agents: null,
  sim: null, seed: null, conn: "connecting", connInfo: {},
  lastMessageAt: 0, lastMetricsAt: 0, everLive: false,
};
const live = new Map();            // probe id -> latest observation seen on the stream (+ tick)
const lastSystemOf = new Map();    // probe id -> last system it was seen in (for routes)
const systems = new Map();         // system id -> detail from /api/systems/{id}
const systemQueue = [];            // ids waiting to be fetched
const systemPending = new Set();
const systemRetryAt = new Map();
let census = new Map();            // system id -> {total, damaged}
const hist = { pop: new Series(), sys: new Series(), tech: new Series(), disc: new Series() };
let chartsDirty = true;
let headerDirty = true;
let drawer = null;                 // {kind: "probe"|"system", id, refreshAt}

// ---------------------------------------------------------------- token dialog
function askToken(reason) {
  const dlg = $("token-dialog");
  $("token-why").textContent = reason;
  $("token-input").value = getToken();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => {
      if (dlg.returnValue === "save" && $("token-input").value) {
        setToken($("token-input").value);
        resolve($("token-input").value);
      } else {
        if (dlg.returnValue === "clear") setToken("");
        resolve(null);
      }
    }, { once: true });
    dlg.showModal();
  });
}

const api = new Api(base, askToken);

// ---------------------------------------------------------------- toast
let toastTimer = null;
function toast(text, isError = false) {
  const t = $("toast");
  t.textContent = text;
  t.classList.toggle("err", isError);
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove("show"), isError ? 5000 : 2500);
}

// ---------------------------------------------------------------- views
const map = new GalaxyMap($("map"), $("map-tip"), { onSelect: (id) => openSystem(id) });
const table = new ProbeTable(
  { scroll: $("table-scroll"), sizer: $("table-sizer"), rows: $("table-rows"), count: $("table-count") },
  api,
  { onOpen: (id) => openProbe(id), systemName: (id) => systems.get(id)?.name || "", live: (id) => live.get(id) },
);
const feed = new EventFeed($("feed"), $("feed-filters"), { onProbe: (id) => openProbe(id) });
const charts = {
  pop: new LineChart($("c-pop"), { color: "#5ee0a0", integer: true, format: (v) => int(v) }),
  sys: new LineChart($("c-sys"), { color: "#7aa2ff", integer: true, format: (v) => int(v) }),
  tech: new LineChart($("c-tech"), { color: "#b48cff", format: (v) => num(v, 2) }),
  disc: new LineChart($("c-disc"), { color: "#ffd479", integer: true, format: (v) => int(v) }),
};
$("map-legend").innerHTML = ["O", "B", "A", "F", "G", "K", "M"].map((c) =>
  `<span><i style="background:${{ O: "#9bb0ff", B: "#aabfff", A: "#cad7ff", F: "#f8f7ff", G: "#fff4a8", K: "#ffd2a1", M: "#ffb07c" }[c]}"></i>${c}</span>`).join("") +
  `<span><i style="background:#5ee0a0;border-radius:0"></i>probe</span>`;

// ---------------------------------------------------------------- systems
function wantSystem(id) {
  if (!id || systems.has(id) || systemPending.has(id)) return;
  if ((systemRetryAt.get(id) || 0) > Date.now()) return;
  if (systems.size + systemPending.size >= 3000) return;
  systemPending.add(id);
  systemQueue.push(id);
  pumpSystems();
}

let systemWorkers = 0;
function pumpSystems() {
  while (systemWorkers < 3 && systemQueue.length) {
    const id = systemQueue.shift();
    systemWorkers++;
    api.system(id).then((data) => {
      const sys = data.system || data;
      systems.set(id, sys);
      map.setSystem({ ...sys, id });
      table.dirty = true;
      updateMapProbes();
      if (drawer?.kind === "system" && drawer.id === id) renderDrawer();
    }).catch(() => {
      systemRetryAt.set(id, Date.now() + 5000);
    }).finally(() => {
      systemPending.delete(id);
      systemWorkers--;
      pumpSystems();
    });
  }
}

function systemName(id) { return systems.get(id)?.name || ""; }

// ---------------------------------------------------------------- stream
function onMessage(msg) {
  if (msg.type !== "tick") return;
  state.lastMessageAt = Date.now();
  if (state.firstStreamTick === undefined) state.firstStreamTick = msg.tick;
  if (state.tick !== null && msg.tick < state.tick) {
    // time went backwards: a restore, or a daemon restarted from an older checkpoint
    live.clear();
    table.invalidate();
  }
  state.tick = msg.tick;
  map.setTick(msg.tick);
  if (msg.mode !== undefined) state.mode = msg.mode;
  if (msg.tick_rate !== undefined) state.tickRate = msg.tick_rate;
  if (msg.ticks_per_second !== undefined) state.tps = msg.ticks_per_second;
  if (msg.probe_count !== undefined) state.probes = msg.probe_count;
  if (msg.agents) state.agents = msg.agents.connected;
  headerDirty = true;

  const hasEvent = new Set();
  for (const ev of msg.events || []) {
    feed.add({ tick: ev.tick ?? msg.tick, ...ev });
    if (ev.type === "born" || ev.type === "destroyed") hasEvent.add(`${ev.type}:${ev.probe_id}`);
  }
  for (const id of msg.born || []) if (!hasEvent.has(`born:${id}`)) feed.add({ tick: msg.tick, probe_id: id, type: "born" });
  for (const id of msg.destroyed || []) if (!hasEvent.has(`destroyed:${id}`)) feed.add({ tick: msg.tick, probe_id: id, type: "destroyed" });

  for (const o of msg.observations || []) {
    const id = o.probe_id;
    live.set(id, { ...o, tick: msg.tick });
    if (o.system && o.location !== "interstellar") { lastSystemOf.set(id, o.system); wantSystem(o.system); }
    if (o.travel?.kind === "interstellar") wantSystem(o.travel.target);
    const res = o.last_action?.action === "scan" ? o.last_action.result : null;
    if (res?.systems) for (const s of res.systems) wantSystem(s.id);
  }
  if (msg.observations?.length) table.dirty = true;
  if (msg.metrics) { addMetrics(msg.tick, msg.metrics); state.lastMetricsAt = Date.now(); }
  else if (msg.probe_count !== undefined) { hist.pop.push(msg.tick, msg.probe_count); chartsDirty = true; }
  if (drawer?.kind === "probe" && Date.now() >= drawer.refreshAt) refreshDrawer();
}

function addMetrics(tick, m) {
  const t = m.tick ?? tick;
  if (t === undefined || t === null) return;
  hist.pop.push(t, m.probes_alive ?? state.probes);
  hist.sys.push(t, m.systems_explored);
  hist.tech.push(t, m.avg_tech);
  hist.disc.push(t, m.discoveries);
  chartsDirty = true;
}

function onState(s, info) {
  const wasLive = state.conn === "live";
  state.conn = s;
  state.connInfo = info;
  headerDirty = true;
  if (s === "live") {
    if (state.everLive || !wasLive) resync();
    state.everLive = true;
  }
}

const stream = new DashboardStream(wsUrl, { onMessage, onState });

/** Fetch everything again: on first connect and after every reconnect (a daemon restart). */
async function resync() {
  refreshStatus();
  table.invalidate();
  runCensus();
  loadLedger();
  try { const m = await api.metrics(); addMetrics(m.tick, m); } catch { /* next poll */ }
  for (const [id, at] of systemRetryAt) if (at > Date.now()) systemRetryAt.set(id, 0);
}

async function refreshStatus() {
  try {
    const s = await api.status(1);
    state.tick = state.tick === null || state.conn !== "live" ? s.tick : state.tick;
    state.mode = s.mode ?? state.mode;
    state.tickRate = s.tick_rate ?? state.tickRate;
    state.seed = s.seed ?? state.seed;
    restoreHistory(state.seed);
    state.sim = s.sim || null;
    state.agents = s.agents?.connected ?? state.agents;
    state.probes = state.probes ?? s.total;
    for (const p of s.probes || []) if (p.system) wantSystem(p.system);
  } catch {
    state.sim = state.conn === "live" ? state.sim : { state: "unreachable" };
  }
  headerDirty = true;
}

// The ledger (GET /api/events, oldest first) seeds the feed with what happened before the page
// was opened, and the probe view with the probe's story. Without a ledger the stream is enough.
const LEDGER_TYPES = "discovery,hazard,born,destroyed,survey,arrival,replicated,dormant";
let ledgerLoaded = false;
async function loadLedger() {
  if (ledgerLoaded) return;
  try {
    const now = state.tick ?? 0;
    const data = await api.events({ since: Math.max(0, now - 5000), type: LEDGER_TYPES, limit: 1000 });
    ledgerLoaded = true;
    const list = data?.events;
    if (!Array.isArray(list)) return;
    // only what the stream has not delivered yet
    const before = state.firstStreamTick ?? Infinity;
    feed.addOlder(list.filter((ev) => (ev.tick ?? 0) < before).slice(-250));
  } catch { /* the daemon is away: try again on the next connection */ }
}

async function probeLedger(id) {
  try {
    const data = await api.events({ probe: id, type: LEDGER_TYPES, limit: 1000 });
    return Array.isArray(data?.events) ? data.events.slice(-40) : [];
  } catch { return []; }
}

// Census: per-system probe counts for the map, paged through /api/probes. It adapts its period to
// its own cost, so a 10,000-probe universe is counted less often than a small one.
// Chart history survives a reload of the page: it is kept in localStorage per universe seed
// (the series truncate themselves when the universe's clock is behind what was stored).
const HISTORY_KEY = (seed) => `universed.history.${seed}`;
let historyRestoredFor = null;
function restoreHistory(seed) {
  if (seed === null || seed === undefined || historyRestoredFor === seed) return;
  historyRestoredFor = seed;
  try {
    const saved = JSON.parse(localStorage.getItem(HISTORY_KEY(seed)) || "null");
    if (!saved) return;
    for (const k of Object.keys(hist)) {
      const src = saved[k];
      if (!src || !Array.isArray(src.t) || !Array.isArray(src.v)) continue;
      const merged = new Series();
      for (let i = 0; i < src.t.length; i++) merged.push(src.t[i], src.v[i]);
      const cur = hist[k];
      for (let i = 0; i < cur.ticks.length; i++) merged.push(cur.ticks[i], cur.values[i]);
      hist[k] = merged;
    }
    chartsDirty = true;
  } catch { /* unreadable: start afresh */ }
}
function saveHistory() {
  if (historyRestoredFor === null) return;
  const out = {};
  for (const [k, s] of Object.entries(hist)) out[k] = { t: s.ticks, v: s.values };
  try { localStorage.setItem(HISTORY_KEY(historyRestoredFor), JSON.stringify(out)); } catch { /* full */ }
}

let censusBusy = false;
let censusAgain = false;
let censusNext = 0;
async function runCensus() {
  if (censusBusy) { censusAgain = true; return; }
  censusAgain = false;
  censusBusy = true;
  const started = performance.now();
  try {
    const counts = new Map();
    const filter = table.status;
    const filtered = [];
    let offset = 0, total = Infinity;
    const page = 1000;
    for (let i = 0; i < 40 && offset < total; i++) {
      const data = await api.probes(page, offset);
      total = data.total ?? 0;
      const rows = data.probes || [];
      for (const r of rows) {
        const obs = live.get(r.id);
        if (filter && (obs?.status ?? r.status) === filter) filtered.push(r);
        if (r.status === "destroyed") continue;
        const loc = obs?.location ?? r.location;
        if (loc === "interstellar" || !r.system) continue;
        lastSystemOf.set(r.id, r.system);
        let c = counts.get(r.system);
        if (!c) { c = { total: 0, damaged: 0, bodies: new Map() }; counts.set(r.system, c); }
        c.total++;
        const body = obs?.body ?? r.body;
        if (body) c.bodies.set(body, (c.bodies.get(body) || 0) + 1);
        if (r.status === "damaged" || (r.hull ?? 1) < 0.5) c.damaged++;
        wantSystem(r.system);
      }
      if (!rows.length) break;
      offset += rows.length;
    }
    census = counts;
    if (filter === table.status) table.setFiltered(filtered);
  } catch { /* keep the last census */ }
  const cost = performance.now() - started;
  censusNext = Date.now() + Math.max(3000, cost * 20);
  censusBusy = false;
  updateMapProbes();
  if (censusAgain) runCensus();
}

function updateMapProbes() {
  const travelers = [];
  for (const [id, o] of live) {
    if (o.location !== "interstellar" || !o.travel) continue;
    const to = systems.get(o.travel.target);
    if (!to?.position) continue;
    const fromId = lastSystemOf.get(id);
    const from = fromId && fromId !== o.travel.target ? systems.get(fromId) : null;
    travelers.push({ from: from?.position || null, to: to.position, progress: o.travel.progress ?? 0 });
  }
  map.setProbes(census, travelers);
  const n = [...census.values()].reduce((a, c) => a + c.total, 0);
  $("map-count").textContent = `${systems.size} system${systems.size === 1 ? "" : "s"} · ${int(n)} in systems · ${travelers.length} in transit`;
}

// ---------------------------------------------------------------- drawer
function openProbe(id) {
  drawer = { kind: "probe", id, refreshAt: 0, data: null, ledger: [] };
  const d = drawer;
  probeLedger(id).then((events) => { d.ledger = events; if (drawer === d && d.data) renderDrawer(); });
  table.setSelected(id);
  table.scrollToId(id);
  $("drawer").hidden = false;
  $("drawer-title").innerHTML = `Probe <span class="link">${esc(id)}</span>`;
  $("drawer-body").innerHTML = `<p class="muted">loading…</p>`;
  refreshDrawer();
}

function openSystem(id) {
  drawer = { kind: "system", id, refreshAt: 0 };
  map.select(id);
  $("drawer").hidden = false;
  const s = systems.get(id);
  $("drawer-title").textContent = s ? s.name : "System";
  renderDrawer();
  api.system(id).then((data) => {
    systems.set(id, data.system || data);
    if (drawer?.kind === "system" && drawer.id === id) renderDrawer();
  }).catch((e) => toast(`system ${id}: ${e.message}`, true));
}

async function refreshDrawer() {
  const d = drawer;
  if (!d || d.kind !== "probe") return;
  d.refreshAt = Date.now() + 1000;
  try {
    const data = await api.probe(d.id);
    if (drawer !== d) return;
    d.data = { ...(data.probe || {}), ...data }; // the detail, over the status row
    if (d.data.system) wantSystem(d.data.system);
    renderDrawer();
  } catch (e) {
    if (drawer !== d) return;
    if (e instanceof ApiError && e.status === 404) $("drawer-body").innerHTML = `<p class="muted">No probe ${esc(d.id)}.</p>`;
  }
}

function renderDrawer() {
  const d = drawer;
  if (!d) return;
  if (d.kind === "probe" && d.data) {
    $("drawer-title").innerHTML = `${esc(d.data.name || "")} <span class="link">${esc(d.id)}</span>`;
    $("drawer-body").innerHTML = probeHtml(d.data, { systemName, recent: [...feed.forProbe(d.id), ...d.ledger] });
  } else if (d.kind === "system") {
    const s = systems.get(d.id);
    if (!s) { $("drawer-body").innerHTML = `<p class="muted">loading…</p>`; return; }
    $("drawer-title").textContent = s.name || d.id;
    $("drawer-body").innerHTML = systemHtml({ ...s, id: d.id }, census.get(d.id)?.total || 0);
  }
}

$("drawer-close").addEventListener("click", () => { drawer = null; $("drawer").hidden = true; table.setSelected(null); map.select(null); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && drawer) $("drawer-close").click(); });
$("drawer-body").addEventListener("click", (e) => {
  const p = e.target.closest("[data-probe]");
  if (p) return openProbe(p.dataset.probe);
  const s = e.target.closest("[data-system]");
  if (s) openSystem(s.dataset.system);
});

// ---------------------------------------------------------------- controls
async function admin(label, fn) {
  try {
    const r = await fn();
    if (r?.mode) state.mode = r.mode;
    if (r?.tick !== undefined) state.tick = Math.max(state.tick ?? 0, r.tick);
    if (r?.tick_rate !== undefined) state.tickRate = r.tick_rate;
    headerDirty = true;
    toast(label(r));
  } catch (e) {
    toast(e instanceof ApiError ? `${e.code}: ${e.message}` : `daemon unreachable (${e.message})`, true);
  }
}
$("btn-pause").addEventListener("click", () => admin((r) => `paused at tick ${r?.tick ?? "?"}`, () => api.pause()));
$("btn-resume").addEventListener("click", () => admin((r) => `resumed (${r?.mode ?? "running"})`, () => api.resume()));
$("btn-step").addEventListener("click", () => admin((r) => `stepped to tick ${r?.tick ?? "?"}`, () => api.step(1)));
$("btn-snapshot").addEventListener("click", () => {
  const tag = `ui-t${state.tick ?? 0}-${new Date().toISOString().slice(11, 19).replaceAll(":", "")}`;
  admin((r) => `snapshot "${r?.snapshot ?? tag}" at tick ${r?.tick ?? "?"}`, () => api.snapshot(tag));
});
$("btn-mode").addEventListener("click", () => {
  const rate = $("inp-rate").value === "" ? undefined : Number($("inp-rate").value);
  admin((r) => `mode ${r?.mode ?? "?"}${r?.tick_rate ? ` at ${r.tick_rate}/s` : ""}`, () => api.mode($("sel-mode").value, rate));
});
$("btn-token").addEventListener("click", () => askToken(getToken() ? "A token is stored for admin actions." : "No token stored. The daemon asks for one when it needs it."));
$("btn-fit").addEventListener("click", () => map.resetView());
$("status-filter").addEventListener("change", (e) => {
  table.setFilter(e.target.value);
  if (e.target.value) { table.setFiltered([]); censusNext = 0; runCensus(); }
});
$("probe-find").addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  const v = e.target.value.trim();
  if (!v) return;
  openProbe(/^\d+$/.test(v) ? `1-${v}` : v);
});

// ---------------------------------------------------------------- header
function renderHeader() {
  if (!headerDirty) return;
  headerDirty = false;
  $("h-tick").textContent = state.tick === null ? "—" : int(state.tick);
  $("h-mode").textContent = state.mode ?? "—";
  $("h-mode").dataset.mode = state.mode ?? "";
  const tps = state.tps === null || state.tps === undefined ? "—" : num(state.tps, 1);
  $("h-tps").textContent = state.mode === "realtime" && state.tickRate ? `${tps} / ${num(state.tickRate, 1)}` : tps;
  $("h-probes").textContent = state.probes === null ? "—" : int(state.probes);
  $("h-agents").textContent = state.agents === null ? "—" : int(state.agents);
  const sim = state.conn !== "live" && state.everLive ? "unreachable" : state.sim?.state ?? "—";
  $("h-sim").textContent = state.sim?.restarts ? `${sim} (${state.sim.restarts}↻)` : sim;
  $("h-sim").dataset.state = sim === "—" ? "" : sim;
  const conn = $("conn");
  conn.dataset.state = state.conn;
  let text = state.conn;
  if (state.conn === "down") {
    const left = Math.max(0, Math.ceil((state.connInfo.retryAt - Date.now()) / 1000));
    text = `reconnecting${left ? ` in ${left}s` : "…"}`;
    headerDirty = true; // keep the countdown moving
  }
  $("conn-text").textContent = text;
  const paused = state.mode === "paused";
  $("btn-pause").disabled = paused;
  $("btn-resume").disabled = !paused;
  $("btn-step").disabled = !paused;
  if (document.activeElement !== $("sel-mode") && state.mode) $("sel-mode").value = state.mode;
  if (document.activeElement !== $("inp-rate") && state.tickRate && !$("inp-rate").value) $("inp-rate").placeholder = num(state.tickRate, 1);
}

function renderCharts() {
  if (!chartsDirty) return;
  chartsDirty = false;
  for (const k of Object.keys(charts)) charts[k].draw(hist[k]);
  $("c-pop-v").textContent = int(hist.pop.last);
  $("c-sys-v").textContent = int(hist.sys.last);
  $("c-tech-v").textContent = num(hist.tech.last, 2);
  $("c-disc-v").textContent = int(hist.disc.last);
  const t = hist.pop.ticks;
  $("chart-range").textContent = t.length ? `ticks ${int(t[0])} – ${int(t[t.length - 1])}` : "";
}
new ResizeObserver(() => { chartsDirty = true; }).observe($("c-pop"));

// ---------------------------------------------------------------- loops
let lastSlow = 0;
function frame() {
  renderHeader();
  map.render();
  table.render();
  feed.render();
  renderCharts();
  requestAnimationFrame(frame);
}

function slowTimer() {
  const now = Date.now();
  if (now - lastSlow > 5000) { lastSlow = now; refreshStatus(); saveHistory(); }
  if (state.conn === "live" && now >= censusNext) runCensus();
  if (state.conn === "live" && now - state.lastMetricsAt > 1500) {
    api.metrics().then((m) => { addMetrics(m.tick, m); state.lastMetricsAt = Date.now(); }).catch(() => {});
  }
  if (drawer?.kind === "probe" && now >= drawer.refreshAt && state.conn === "live") refreshDrawer();
  updateMapProbes();
}

document.addEventListener("visibilitychange", () => { if (!document.hidden) stream.poke(); });
window.universed = { state, systems, live, history: hist, map, table }; // for the console and the browser tests
stream.start();
refreshStatus();
setInterval(slowTimer, 1000);
requestAnimationFrame(frame);
