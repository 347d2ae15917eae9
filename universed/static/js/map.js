// The galaxy map: a top-down (x, y) canvas view of the systems the page knows, stars colored by
// class, probes as markers orbiting their system, interstellar probes on their route.
// Drag to pan, wheel to zoom (around the cursor), click a star to select it.

import { STAR_COLORS, esc } from "./format.js";

const STAR_SIZE = { O: 7, B: 6.5, A: 6, F: 5.5, G: 5.2, K: 4.6, M: 4 };
const BODY_COLORS = {
  rocky: "#b9a48f", super_earth: "#8fc79b", ocean: "#5fa8ff", lava: "#ff7a4d", gas_giant: "#e8c58f",
  ice_giant: "#9fe0f0", dwarf: "#a3a3b8", moon: "#aeb6c8", asteroid_belt: "#c8b496",
};
const BODY_SIZE = { rocky: 2.6, super_earth: 3.2, ocean: 3.0, lava: 2.6, gas_giant: 5, ice_giant: 4.2, dwarf: 1.8 };

function hashStr(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

export class GalaxyMap {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {HTMLElement} tip
   * @param {{onSelect: (systemId: string) => void}} handlers
   */
  constructor(canvas, tip, { onSelect }) {
    this.canvas = canvas;
    this.tip = tip;
    this.onSelect = onSelect;
    this.systems = new Map();     // id -> {id, name, x, y, z, cls, explored}
    this.probeCounts = new Map(); // system id -> {total, byStatus}
    this.travelers = [];          // [{from:[x,y]|null, to:[x,y], progress}]
    this.selected = null;
    this.hover = null;
    this.view = { cx: 5, cy: 5, scale: 24 }; // scale = px per ly
    this.userMoved = false;
    this.dirty = true;
    this.background = this.makeStars(420);
    this.installInput();
    new ResizeObserver(() => { this.dirty = true; }).observe(canvas);
  }

  makeStars(n) {
    const out = [];
    let s = 12345;
    const rnd = () => ((s = Math.imul(s ^ (s >>> 15), 2246822519) + 1013904223 >>> 0) / 4294967296);
    for (let i = 0; i < n; i++) out.push([rnd(), rnd(), rnd() * 0.9 + 0.2, rnd()]);
    return out;
  }

  setSystem(sys) {
    const pos = sys.position || [0, 0, 0];
    const prev = this.systems.get(sys.id);
    this.systems.set(sys.id, {
      id: sys.id,
      name: sys.name || prev?.name || sys.id,
      x: pos[0], y: pos[1], z: pos[2],
      cls: sys.star?.class || sys.star_class || prev?.cls || "G",
      explored: Boolean(sys.explored),
      bodies: (sys.bodies || prev?.bodies || []).map((b) => ({
        id: b.id, name: b.name, type: b.type, orbit: b.orbit_au || 0.1, parent: b.parent || null,
      })),
    });
    if (!this.userMoved) this.fit();
    this.dirty = true;
  }

  setProbes(counts, travelers) {
    this.probeCounts = counts;
    this.travelers = travelers;
    this.dirty = true;
  }

  select(id) { this.selected = id; this.dirty = true; }

  /** Planets move with the simulation's clock (only visible when zoomed in on a system). */
  setTick(tick) {
    this.tick = tick;
    if (this.orbitsShown) this.dirty = true;
  }

  fit() {
    const list = [...this.systems.values()];
    const w = this.canvas.clientWidth || 800, h = this.canvas.clientHeight || 500;
    if (!list.length) return;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of list) { x0 = Math.min(x0, s.x); x1 = Math.max(x1, s.x); y0 = Math.min(y0, s.y); y1 = Math.max(y1, s.y); }
    const spanX = Math.max(x1 - x0, 1), spanY = Math.max(y1 - y0, 1);
    this.view.cx = (x0 + x1) / 2;
    this.view.cy = (y0 + y1) / 2;
    // one lone system: close enough to see its planets (orbits show above ~70 px/ly)
    this.view.scale = Math.max(2, Math.min(360, Math.min((w * 0.8) / spanX, (h * 0.8) / spanY)));
    this.dirty = true;
  }

  resetView() { this.userMoved = false; this.fit(); }

  toScreen(x, y) {
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    return [(x - this.view.cx) * this.view.scale + w / 2, (this.view.cy - y) * this.view.scale + h / 2];
  }

  toWorld(px, py) {
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    return [(px - w / 2) / this.view.scale + this.view.cx, this.view.cy - (py - h / 2) / this.view.scale];
  }

  pick(px, py) {
    let best = null, bestD = 14 * 14;
    for (const s of this.systems.values()) {
      const [sx, sy] = this.toScreen(s.x, s.y);
      const d = (sx - px) ** 2 + (sy - py) ** 2;
      if (d < bestD) { bestD = d; best = s; }
    }
    return best;
  }

  installInput() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener("pointerdown", (e) => {
      drag = { x: e.clientX, y: e.clientY, cx: this.view.cx, cy: this.view.cy, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      const r = c.getBoundingClientRect();
      if (drag) {
        const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; c.classList.add("dragging"); }
        if (drag.moved) {
          this.view.cx = drag.cx - dx / this.view.scale;
          this.view.cy = drag.cy + dy / this.view.scale;
          this.userMoved = true;
          this.dirty = true;
        }
        return;
      }
      const hit = this.pick(e.clientX - r.left, e.clientY - r.top);
      if ((hit?.id || null) !== (this.hover?.id || null)) { this.hover = hit; this.dirty = true; }
      this.showTip(hit, e.clientX - r.left, e.clientY - r.top);
    });
    c.addEventListener("pointerup", (e) => {
      const r = c.getBoundingClientRect();
      if (drag && !drag.moved) {
        const hit = this.pick(e.clientX - r.left, e.clientY - r.top);
        if (hit) { this.select(hit.id); this.onSelect(hit.id); }
      }
      drag = null;
      c.classList.remove("dragging");
    });
    c.addEventListener("pointerleave", () => { this.hover = null; this.tip.hidden = true; this.dirty = true; });
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      const px = e.clientX - r.left, py = e.clientY - r.top;
      const [wx, wy] = this.toWorld(px, py);
      const f = Math.exp(-e.deltaY * 0.0015);
      this.view.scale = Math.max(0.05, Math.min(400, this.view.scale * f));
      const [nx, ny] = this.toWorld(px, py);
      this.view.cx += wx - nx;
      this.view.cy += wy - ny;
      this.userMoved = true;
      this.dirty = true;
    }, { passive: false });
  }

  showTip(sys, x, y) {
    if (!sys) { this.tip.hidden = true; return; }
    const n = this.probeCounts.get(sys.id)?.total || 0;
    this.tip.innerHTML = `<b>${esc(sys.name)}</b> · class ${esc(sys.cls)} · ${n} probe${n === 1 ? "" : "s"}${sys.explored ? "" : " · unexplored"}`;
    this.tip.style.left = `${x + 14}px`;
    this.tip.style.top = `${y + 10}px`;
    this.tip.hidden = false;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    // far background stars, drifting slowly with the pan (parallax)
    for (const [u, v, r, a] of this.background) {
      const x = ((u * w * 1.5 - this.view.cx * 0.8) % w + w) % w;
      const y = ((v * h * 1.5 + this.view.cy * 0.8) % h + h) % h;
      g.fillStyle = `rgba(200,210,255,${0.15 + a * 0.35})`;
      g.fillRect(x, y, r, r);
    }
    this.drawGrid(g, w, h);

    // routes of interstellar probes
    g.lineWidth = 1;
    for (const t of this.travelers) {
      const [bx, by] = this.toScreen(t.to[0], t.to[1]);
      let px = bx, py = by;
      if (t.from) {
        const [ax, ay] = this.toScreen(t.from[0], t.from[1]);
        g.strokeStyle = "rgba(122,162,255,0.35)";
        g.setLineDash([4, 5]);
        g.beginPath(); g.moveTo(ax, ay); g.lineTo(bx, by); g.stroke();
        g.setLineDash([]);
        px = ax + (bx - ax) * t.progress; py = ay + (by - ay) * t.progress;
      }
      g.fillStyle = "#7aa2ff";
      g.beginPath(); g.arc(px, py, 2.6, 0, Math.PI * 2); g.fill();
    }

    this.orbitsShown = false;
    const showLabels = this.systems.size <= 40 || this.view.scale > 18;
    const sorted = [...this.systems.values()].sort((a, b) => a.z - b.z);
    for (const s of sorted) {
      const [x, y] = this.toScreen(s.x, s.y);
      if (x < -40 || y < -40 || x > w + 40 || y > h + 40) continue;
      const col = STAR_COLORS[s.cls] || "#ffffff";
      const zoom = Math.max(0.8, Math.min(2.2, this.view.scale / 30));
      const size = (STAR_SIZE[s.cls] || 4.5) * (s.explored ? 1 : 0.7) * zoom;
      const glow = g.createRadialGradient(x, y, 0, x, y, size * 4);
      glow.addColorStop(0, col + (s.explored ? "aa" : "55"));
      glow.addColorStop(1, col + "00");
      g.fillStyle = glow;
      g.beginPath(); g.arc(x, y, size * 4, 0, Math.PI * 2); g.fill();
      g.fillStyle = s.explored ? col : col + "99";
      g.beginPath(); g.arc(x, y, size * 0.55, 0, Math.PI * 2); g.fill();

      const probes = this.probeCounts.get(s.id);
      const orbitR = Math.min(this.view.scale * 0.42, 150);
      let atBodies = 0;
      if (orbitR > 30 && s.bodies.length) {
        this.orbitsShown = true;
        atBodies = this.drawOrbits(g, x, y, size, orbitR, s, probes);
      }
      if (probes && probes.total - atBodies > 0) {
        this.drawProbes(g, x, y, size, { ...probes, total: probes.total - atBodies }, hashStr(s.id));
      }
      if (s.id === this.selected || s.id === this.hover?.id) {
        g.strokeStyle = s.id === this.selected ? "#ffffff" : "rgba(255,255,255,0.5)";
        g.lineWidth = 1;
        g.beginPath(); g.arc(x, y, size * 2.6 + 6, 0, Math.PI * 2); g.stroke();
      }
      if (showLabels || s.id === this.selected || (probes && probes.total)) {
        g.font = "11px system-ui, sans-serif";
        g.fillStyle = s.explored ? "#c9d3ee" : "#6f7a99";
        g.fillText(s.name, x + size * 2 + 8, y - size - 2);
      }
    }
    if (!this.systems.size) {
      g.fillStyle = "#5d6888";
      g.font = "13px system-ui, sans-serif";
      g.fillText("waiting for the first system…", 16, 24);
    }
  }

  /** A schematic system: log-scaled orbits, planets turning with the tick, probes at bodies. */
  drawOrbits(g, x, y, size, R, s, probes) {
    const planets = s.bodies.filter((b) => !b.parent);
    const maxOrbit = Math.max(...planets.map((b) => b.orbit), 1);
    const r0 = size * 2.2 + 8;
    const radius = (au) => r0 + (R - r0) * (Math.log1p(au) / Math.log1p(maxOrbit));
    const tick = this.tick || 0;
    const pos = new Map();
    for (const b of planets) {
      const r = radius(b.orbit);
      if (b.type === "asteroid_belt") {
        g.strokeStyle = "rgba(200,180,150,0.28)";
        g.setLineDash([1.5, 3]);
        g.lineWidth = 2;
        g.beginPath(); g.arc(x, y, r, 0, Math.PI * 2); g.stroke();
        g.setLineDash([]);
        const a = (hashStr(b.id) % 6283) / 1000;
        pos.set(b.id, [x + Math.cos(a) * r, y + Math.sin(a) * r]);
        continue;
      }
      g.strokeStyle = "rgba(122,162,255,0.13)";
      g.lineWidth = 1;
      g.beginPath(); g.arc(x, y, r, 0, Math.PI * 2); g.stroke();
      const a = (hashStr(b.id) % 6283) / 1000 + tick * 0.004 / Math.pow(b.orbit, 1.5);
      const px = x + Math.cos(a) * r, py = y + Math.sin(a) * r;
      pos.set(b.id, [px, py]);
      g.fillStyle = BODY_COLORS[b.type] || "#9aa4c0";
      g.beginPath(); g.arc(px, py, BODY_SIZE[b.type] || 2.5, 0, Math.PI * 2); g.fill();
      if (R > 90) {
        g.font = "10px system-ui, sans-serif";
        g.fillStyle = "rgba(170,182,214,0.7)";
        g.fillText(b.name.split(" ").pop(), px + 6, py - 5);
      }
    }
    const moonIndex = new Map();
    for (const b of s.bodies) {
      if (!b.parent || !pos.has(b.parent)) continue;
      const k = (moonIndex.get(b.parent) || 0) + 1;
      moonIndex.set(b.parent, k);
      const [px, py] = pos.get(b.parent);
      const a = k * 2.1 + tick * 0.05;
      const mx = px + Math.cos(a) * (6 + k * 2.5), my = py + Math.sin(a) * (6 + k * 2.5);
      pos.set(b.id, [mx, my]);
      g.fillStyle = "#aeb6c8";
      g.beginPath(); g.arc(mx, my, 1.3, 0, Math.PI * 2); g.fill();
    }
    let placed = 0;
    for (const [bodyId, n] of probes?.bodies || []) {
      const p = pos.get(bodyId);
      if (!p) continue;
      placed += n;
      const shown = Math.min(n, 6);
      for (let i = 0; i < shown; i++) {
        const a = (i / shown) * Math.PI * 2;
        const qx = p[0] + (shown > 1 ? Math.cos(a) * 6 : 0), qy = p[1] - 7 + (shown > 1 ? Math.sin(a) * 4 : 0);
        g.fillStyle = "#5ee0a0";
        g.beginPath(); g.moveTo(qx, qy - 3); g.lineTo(qx + 2.6, qy + 2); g.lineTo(qx - 2.6, qy + 2); g.closePath(); g.fill();
      }
      if (n > 1) {
        g.font = "600 10px ui-monospace, monospace";
        g.fillStyle = "#aef3cf";
        g.fillText(String(n), p[0] + 9, p[1] + 12);
      }
    }
    return placed;
  }

  drawProbes(g, x, y, size, probes, seed) {
    const n = probes.total;
    const shown = Math.min(n, 24);
    const r = size * 2.2 + 4;
    for (let i = 0; i < shown; i++) {
      const a = (i / shown) * Math.PI * 2 + (seed % 628) / 100;
      const px = x + Math.cos(a) * r, py = y + Math.sin(a) * r;
      g.fillStyle = i < (probes.damaged || 0) ? "#ffc861" : "#5ee0a0";
      g.beginPath();
      g.moveTo(px, py - 3); g.lineTo(px + 2.6, py + 2); g.lineTo(px - 2.6, py + 2); g.closePath();
      g.fill();
    }
    if (n > 1) {
      const label = n > 999 ? `${(n / 1000).toFixed(1)}k` : String(n);
      g.font = "600 10px ui-monospace, monospace";
      const tw = g.measureText(label).width;
      const bx = x - r - tw - 10, by = y + r - 4;
      g.fillStyle = "rgba(94,224,160,0.16)";
      g.strokeStyle = "rgba(94,224,160,0.6)";
      g.beginPath(); g.roundRect(bx, by - 10, tw + 8, 14, 7); g.fill(); g.stroke();
      g.fillStyle = "#aef3cf";
      g.fillText(label, bx + 4, by + 1);
    }
  }

  drawGrid(g, w, h) {
    // a grid step of 1, 2 or 5 × 10^k ly, about 90 px apart, plus a scale bar
    const target = 90 / this.view.scale;
    const p = 10 ** Math.floor(Math.log10(target));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= target) || p * 10;
    const [wx0, wy1] = this.toWorld(0, 0);
    const [wx1, wy0] = this.toWorld(w, h);
    g.strokeStyle = "rgba(122,162,255,0.06)";
    g.lineWidth = 1;
    g.beginPath();
    for (let x = Math.floor(wx0 / step) * step; x <= wx1; x += step) {
      const [sx] = this.toScreen(x, 0);
      g.moveTo(Math.round(sx) + 0.5, 0); g.lineTo(Math.round(sx) + 0.5, h);
    }
    for (let y = Math.floor(wy0 / step) * step; y <= wy1; y += step) {
      const [, sy] = this.toScreen(0, y);
      g.moveTo(0, Math.round(sy) + 0.5); g.lineTo(w, Math.round(sy) + 0.5);
    }
    g.stroke();
    const len = step * this.view.scale;
    g.strokeStyle = "rgba(200,210,255,0.5)";
    g.beginPath(); g.moveTo(w - 16 - len, h - 14); g.lineTo(w - 16, h - 14); g.stroke();
    g.fillStyle = "#7d89a8";
    g.font = "10px ui-monospace, monospace";
    const label = `${step < 1 ? step.toFixed(2) : step} ly`;
    g.fillText(label, w - 16 - len, h - 18);
  }
}
