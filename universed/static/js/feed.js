// The event feed: discoveries, hazards, births and deaths as they stream in, newest first.
// Entries are buffered and the DOM is updated at most once per animation frame.

import { esc, eventKind } from "./format.js";

const KEEP = 600;
const SHOW = 250;

export class EventFeed {
  constructor(list, filters, { onProbe }) {
    this.list = list;
    this.entries = [];   // newest last
    this.enabled = new Set();
    this.dirty = true;
    this.lastRenderedSeq = 0;
    this.seq = 0;
    for (const box of filters.querySelectorAll("input[type=checkbox]")) {
      if (box.checked) this.enabled.add(box.value);
      box.addEventListener("change", () => {
        if (box.checked) this.enabled.add(box.value); else this.enabled.delete(box.value);
        this.lastRenderedSeq = -1;
        this.dirty = true;
      });
    }
    list.addEventListener("click", (e) => {
      const p = e.target.closest("[data-probe]");
      if (p) onProbe(p.dataset.probe);
    });
  }

  /** @param {{tick:number, probe_id?:string, type:string, subtype?:string, severity?:number, message?:string}} ev */
  add(ev) {
    this.entries.push({ ...ev, kind: eventKind(ev.type), seq: ++this.seq });
    if (this.entries.length > KEEP) this.entries.splice(0, this.entries.length - KEEP);
    this.dirty = true;
  }

  /** Older events (from the ledger) go before everything already in the feed. */
  addOlder(events) {
    const older = events.map((ev) => ({ ...ev, kind: eventKind(ev.type), seq: 0 }));
    this.entries = older.concat(this.entries).slice(-KEEP);
    this.dirty = true;
  }

  /** Events of one probe, newest first (for the detail view). */
  forProbe(id, n = 20) {
    const out = [];
    for (let i = this.entries.length - 1; i >= 0 && out.length < n; i--) {
      if (this.entries[i].probe_id === id) out.push(this.entries[i]);
    }
    return out;
  }

  /** A line of text for a stream event (it has a message) or a ledger row (it has not). */
  static describe(e) {
    if (e.message) return e.message;
    const v = typeof e.value === "number" ? e.value : null;
    const sev = typeof e.severity === "number" ? `, severity ${e.severity.toFixed(2)}` : "";
    switch (e.type) {
      case "born": return e.parent_id ? `born to ${e.parent_id}` : "born";
      case "destroyed": return "destroyed";
      case "hazard": return `${e.subtype ?? "hazard"}${sev}${v !== null ? `: hull -${v.toFixed(3)}` : ""}`;
      case "discovery": return `${e.subtype ?? "discovery"}${v !== null ? `: ${Number.isInteger(v) ? v : v.toFixed(1)}` : ""}`;
      case "survey": return `survey of ${e.subtype ?? "body"}${v !== null ? ` to level ${v}` : ""}`;
      case "arrival": return `arrived at ${e.subtype ?? "destination"}`;
      case "replicated": return v !== null ? `built child 1-${v}` : "replicated";
      default: return `${e.subtype ?? e.type}${sev}`;
    }
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const shown = [];
    for (let i = this.entries.length - 1; i >= 0 && shown.length < SHOW; i--) {
      if (this.enabled.has(this.entries[i].kind)) shown.push(this.entries[i]);
    }
    if (!shown.length) {
      this.list.innerHTML = `<li class="empty">No events yet. Discoveries, hazards, births and deaths appear here as they happen.</li>`;
      return;
    }
    // flash the newcomers, unless they come in floods (10,000 probes): then it is only noise
    const fresh = this.seq - this.lastRenderedSeq <= 8 ? this.lastRenderedSeq : -1;
    this.list.innerHTML = shown.map((e) => {
      const label = { discovery: "discovery", hazard: "hazard", born: "birth", destroyed: "death" }[e.kind] || e.type;
      return `<li class="${fresh >= 0 && e.seq > fresh ? "new" : ""}"><span class="t">t ${esc(e.tick)}</span>` +
        `<span><span class="k k-${e.kind}">${esc(label)}</span></span>` +
        `<span>${e.probe_id ? `<span class="p" data-probe="${esc(e.probe_id)}">${esc(e.probe_id)}</span> ` : ""}${esc(EventFeed.describe(e))}</span></li>`;
    }).join("");
    this.lastRenderedSeq = this.seq;
  }
}
