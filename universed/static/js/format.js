// Small formatting helpers shared by the views.

export const TECH_NAMES = ["propulsion", "sensors", "mining", "construction", "computing",
  "energy", "materials", "communication", "weapons", "biotech"];

export const STAR_COLORS = {
  O: "#9bb0ff", B: "#aabfff", A: "#cad7ff", F: "#f8f7ff", G: "#fff4a8", K: "#ffd2a1", M: "#ffb07c",
};

export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export function int(n) {
  return n === undefined || n === null ? "—" : Math.round(n).toLocaleString("en-US");
}

function scaled(n, unit, steps) {
  if (n === undefined || n === null || Number.isNaN(n)) return "—";
  const a = Math.abs(n);
  for (const [f, p] of steps) {
    if (a >= f) return `${(n / f).toFixed(a / f >= 100 ? 0 : a / f >= 10 ? 1 : 2)} ${p}${unit}`;
  }
  return `${n.toFixed(a >= 10 ? 0 : 1)} ${unit}`;
}

export function joules(n) { return scaled(n, "J", [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]); }
export function kg(n) {
  if (n === undefined || n === null) return "—";
  return Math.abs(n) >= 1000 ? `${(n / 1000).toFixed(n >= 1e5 ? 0 : 1)} t` : `${n.toFixed(n >= 10 ? 0 : 1)} kg`;
}
export function pct(x) { return x === undefined || x === null ? "—" : `${Math.round(x * 100)}%`; }
export function num(x, d = 2) { return x === undefined || x === null ? "—" : Number(x).toFixed(d); }

export function hullBar(h) {
  if (h === undefined || h === null) return "—";
  const cls = h < 0.25 ? "low" : h < 0.5 ? "mid" : "";
  return `<span class="bar ${cls}"><i style="width:${Math.max(0, Math.min(1, h)) * 100}%"></i></span>${pct(h)}`;
}

export function statusPill(s) {
  return s ? `<span class="pill s-${esc(s)}">${esc(s)}</span>` : "—";
}

/** Sort key for "hi-lo" ids (probe ids are 1-N). */
export function idNumber(id) {
  const i = String(id).indexOf("-");
  return i < 0 ? NaN : Number(String(id).slice(i + 1));
}

/** Classify an event for the feed filters. */
export function eventKind(type) {
  if (type === "discovery" || type === "hazard" || type === "born" || type === "destroyed") return type;
  return "other";
}
