// The probe table, virtualized: the scroll area is as tall as `total` rows, only the rows in view
// (plus a little overscan) exist in the DOM, and their data comes from GET /api/probes in pages
// fetched on demand and refreshed while they stay in view. 10,000 probes cost ~40 DOM rows.

import { esc, hullBar, joules, kg, statusPill } from "./format.js";

const PAGE = 100;
const OVERSCAN = 8;
const STALE_MS = 1500;

export class ProbeTable {
  /**
   * @param {{scroll: HTMLElement, sizer: HTMLElement, rows: HTMLElement, count: HTMLElement}} els
   * @param {import("./api.js").Api} api
   * @param {{onOpen: (id: string) => void, systemName: (id: string) => string, live: (id: string) => object|undefined}} hooks
   */
  constructor(els, api, hooks) {
    this.els = els;
    this.api = api;
    this.hooks = hooks;
    this.rowHeight = 28;
    this.total = 0;
    this.status = "";
    this.pages = new Map();     // page index -> {rows, at}
    this.inflight = new Set();
    this.filtered = [];         // rows of the current status filter (from the census)
    this.generation = 0;        // bumps on filter change: late replies of old queries are dropped
    this.selected = null;
    this.pool = [];
    this.dirty = true;
    els.scroll.addEventListener("scroll", () => { this.dirty = true; }, { passive: true });
    els.rows.addEventListener("click", (e) => {
      const row = e.target.closest(".trow");
      if (row?.dataset.id) this.hooks.onOpen(row.dataset.id);
    });
    new ResizeObserver(() => { this.dirty = true; }).observe(els.scroll);
  }

  /**
   * Show only probes of one status. The filtered list comes from the page's census (all rows,
   * refreshed in the background: see main.js) rather than from `?status=`, so the row positions
   * and the total are those of the filtered set whatever the daemon's paging does.
   */
  setFilter(status) {
    this.status = status;
    this.pages.clear();
    this.generation++;
    this.els.scroll.scrollTop = 0;
    this.dirty = true;
    if (!status) this.ensurePages(true);
  }

  /** The census' rows of the current filter (called by main.js after every census). */
  setFiltered(rows) {
    this.filtered = rows;
    if (this.status) { this.total = rows.length; this.dirty = true; }
  }

  setSelected(id) { this.selected = id; this.dirty = true; }

  /** Scroll so that probe "1-N" is in view (ids are dense and ordered when unfiltered). */
  scrollToId(id) {
    if (this.status) return;
    const n = Number(String(id).split("-")[1]);
    if (!Number.isFinite(n) || n < 1) return;
    this.els.scroll.scrollTop = Math.max(0, (n - 1) * this.rowHeight - this.els.scroll.clientHeight / 3);
    this.dirty = true;
  }

  /** Forget cached pages so that the visible ones are fetched again (after a reconnect). */
  invalidate() {
    for (const p of this.pages.values()) p.at = 0;
    this.ensurePages(true);
  }

  visibleRange() {
    const top = this.els.scroll.scrollTop;
    const h = this.els.scroll.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - OVERSCAN);
    const last = Math.min(Math.max(this.total, 1) - 1, Math.ceil((top + h) / this.rowHeight) + OVERSCAN);
    return [first, last];
  }

  /** Fetch the pages in view that are missing or stale. Called from the render loop. */
  ensurePages(force = false) {
    if (this.status) return;
    const [first, last] = this.visibleRange();
    const now = performance.now();
    for (let p = Math.floor(first / PAGE); p <= Math.floor(last / PAGE); p++) {
      const page = this.pages.get(p);
      if (this.inflight.has(p)) continue;
      if (page && !force && now - page.at < STALE_MS) continue;
      this.fetchPage(p);
    }
  }

  async fetchPage(p) {
    const gen = this.generation;
    this.inflight.add(p);
    try {
      const data = await this.api.probes(PAGE, p * PAGE);
      if (gen !== this.generation) return;
      this.pages.set(p, { rows: data.probes || [], at: performance.now() });
      if (typeof data.total === "number" && data.total !== this.total) {
        this.total = data.total;
        // pages past the end are gone
        for (const k of this.pages.keys()) if (k * PAGE >= this.total) this.pages.delete(k);
      }
      this.dirty = true;
    } catch {
      // the daemon is away: keep what we have, the next render tick retries
      const page = this.pages.get(p);
      if (page) page.at = performance.now();
    } finally {
      this.inflight.delete(p);
    }
  }

  rowAt(i) {
    if (this.status) return this.filtered?.[i];
    const page = this.pages.get(Math.floor(i / PAGE));
    return page?.rows[i % PAGE];
  }

  render() {
    this.ensurePages();
    if (!this.dirty) return;
    this.dirty = false;
    const { sizer, rows, count } = this.els;
    sizer.style.height = `${this.total * this.rowHeight}px`;
    const want = `${Math.max(4, Math.min(15, this.total)) * this.rowHeight}px`;
    if (this.els.scroll.style.height !== want) this.els.scroll.style.height = want;
    count.textContent = this.total ? `${this.total.toLocaleString("en-US")}${this.status ? ` ${this.status}` : ""}` : "";
    const [first, last] = this.total ? this.visibleRange() : [0, -1];
    const n = Math.max(0, last - first + 1);
    while (this.pool.length < n) {
      const el = document.createElement("div");
      el.className = "trow";
      el.setAttribute("role", "row");
      rows.appendChild(el);
      this.pool.push(el);
    }
    rows.style.transform = `translateY(${first * this.rowHeight}px)`;
    for (let k = 0; k < this.pool.length; k++) {
      const el = this.pool[k];
      if (k >= n) { el.style.display = "none"; continue; }
      el.style.display = "";
      const row = this.rowAt(first + k);
      const html = row ? this.rowHtml(row) : `<span class="id">…</span><span>loading</span>`;
      if (el._html !== html) { el.innerHTML = html; el._html = html; }
      el.dataset.id = row ? row.id : "";
      el.classList.toggle("loading", !row);
      el.classList.toggle("sel", Boolean(row && row.id === this.selected));
    }
  }

  rowHtml(r) {
    const live = this.hooks.live(r.id);
    const energy = r.energy ?? live?.energy;
    const fuel = r.fuel ?? live?.fuel;
    const hull = r.hull ?? live?.hull;
    const status = live?.status ?? r.status;
    const sys = r.system_name || (r.system ? this.hooks.systemName(r.system) : "");
    const ctl = r.controller ? (typeof r.controller === "string" ? r.controller : r.controller.name || r.controller.kind) : "";
    return `<span class="id">${esc(r.id)}</span><span>${esc(r.name)}</span><span>${statusPill(status)}</span>` +
      `<span class="num">${hullBar(hull)}</span><span class="num">${joules(energy)}</span><span class="num">${kg(fuel)}</span>` +
      `<span>${esc(r.location || "—")}</span><span title="${esc(r.system || "")}">${esc(sys || "—")}</span>` +
      `<span class="${ctl ? "" : "muted"}">${esc(ctl || "none")}</span>`;
  }
}
