// Hand-drawn canvas line charts over a rolling history of (tick, value) points.

const MAX_POINTS = 4000;

export class Series {
  constructor() { this.ticks = []; this.values = []; }
  /** Append a point; a tick at or before the last one (restore, restart) truncates first. */
  push(tick, value) {
    if (value === undefined || value === null || Number.isNaN(Number(value))) return;
    const t = this.ticks;
    if (t.length && tick <= t[t.length - 1]) {
      if (tick === t[t.length - 1]) { this.values[this.values.length - 1] = Number(value); return; }
      let i = t.length;
      while (i > 0 && t[i - 1] >= tick) i--;
      t.length = i; this.values.length = i;
    }
    t.push(tick); this.values.push(Number(value));
    if (t.length > MAX_POINTS) {
      // Halve the resolution of the older half: long runs keep their whole shape.
      const keep = [], vals = [];
      const half = t.length >> 1;
      for (let i = 0; i < half; i += 2) { keep.push(t[i]); vals.push(this.values[i]); }
      for (let i = half; i < t.length; i++) { keep.push(t[i]); vals.push(this.values[i]); }
      this.ticks = keep; this.values = vals;
    }
  }
  get last() { return this.values.length ? this.values[this.values.length - 1] : undefined; }
}

export class LineChart {
  constructor(canvas, { color, label, format = (v) => String(v), integer = false }) {
    this.canvas = canvas;
    this.color = color;
    this.label = label;
    this.format = format;
    this.integer = integer;
  }

  draw(series) {
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
    const padL = 4, padR = 4, padT = 6, padB = 14;
    const n = series.ticks.length;
    g.font = "10px ui-monospace, monospace";
    g.fillStyle = "#5d6888";
    if (n === 0) {
      g.fillText("waiting for data…", padL, h / 2);
      return;
    }
    const t0 = series.ticks[0], t1 = series.ticks[n - 1];
    let lo = Infinity, hi = -Infinity;
    for (const v of series.values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (this.integer) { lo = Math.floor(lo); hi = Math.ceil(hi); }
    if (hi - lo < 1e-9) {
      // a flat series sits in the middle of the chart
      const pad = this.integer ? 1 : Math.max(0.05, Math.abs(hi) * 0.1);
      hi += pad;
      lo = lo - pad < 0 && lo >= 0 ? 0 : lo - pad;
    }
    const span = t1 - t0 || 1;
    const X = (t) => padL + ((t - t0) / span) * (w - padL - padR);
    const Y = (v) => padT + (1 - (v - lo) / (hi - lo)) * (h - padT - padB);

    // grid
    g.strokeStyle = "rgba(125,137,168,0.12)";
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const y = Math.round(padT + (i / 2) * (h - padT - padB)) + 0.5;
      g.beginPath(); g.moveTo(padL, y); g.lineTo(w - padR, y); g.stroke();
    }
    // path, reduced to at most one point per pixel column
    const pts = [];
    let lastX = -1;
    for (let i = 0; i < n; i++) {
      const x = X(series.ticks[i]);
      if (Math.floor(x) === lastX && i !== n - 1) { pts[pts.length - 1][1] = series.values[i]; continue; }
      lastX = Math.floor(x);
      pts.push([x, series.values[i]]);
    }
    const grad = g.createLinearGradient(0, padT, 0, h - padB);
    grad.addColorStop(0, this.color + "55");
    grad.addColorStop(1, this.color + "00");
    g.beginPath();
    g.moveTo(pts[0][0], h - padB);
    for (const [x, v] of pts) g.lineTo(x, Y(v));
    g.lineTo(pts[pts.length - 1][0], h - padB);
    g.closePath();
    g.fillStyle = grad;
    g.fill();
    g.beginPath();
    pts.forEach(([x, v], i) => (i ? g.lineTo(x, Y(v)) : g.moveTo(x, Y(v))));
    g.strokeStyle = this.color;
    g.lineWidth = 1.6;
    g.lineJoin = "round";
    g.stroke();
    const [lx, lv] = pts[pts.length - 1];
    g.fillStyle = this.color;
    g.beginPath(); g.arc(lx, Y(lv), 2.5, 0, Math.PI * 2); g.fill();
    // labels
    g.fillStyle = "#5d6888";
    g.textBaseline = "top";
    g.fillText(this.format(hi), padL + 2, padT - 4 > 0 ? 0 : padT);
    g.textBaseline = "alphabetic";
    g.fillText(`t ${t0}`, padL, h - 2);
    const right = `t ${t1}`;
    g.fillText(right, w - padR - g.measureText(right).width, h - 2);
  }
}
