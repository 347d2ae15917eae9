// The /ws/dashboard stream, reconnecting with exponential backoff and jitter. Messages are
// handed over as parsed objects; the consumer coalesces rendering (see main.js), so a burst of
// ticks costs one JSON.parse each and nothing more.

export class DashboardStream {
  /**
   * @param {string | (() => string)} url  ws:// URL of /ws/dashboard (a function is called at
   *   every attempt, so a token entered meanwhile is used by the next one)
   * @param {{onMessage: (m: object) => void, onState: (state: string, info: object) => void}} handlers
   */
  constructor(url, { onMessage, onState }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.closed = false;
    this.retryAt = 0;
  }

  start() {
    this.closed = false;
    this.connect();
  }

  stop() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  /** Skip the wait and try now (used when the tab becomes visible again). */
  poke() {
    if (this.ws || this.closed) return;
    clearTimeout(this.timer);
    this.connect();
  }

  connect() {
    this.onState("connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(typeof this.url === "function" ? this.url() : this.url);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onState("live", {});
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      this.ws = null;
      if (!this.closed) this.scheduleRetry();
    };
    ws.onerror = () => { /* onclose follows and schedules the retry */ };
  }

  scheduleRetry() {
    const base = Math.min(8000, 400 * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.onState("down", { delay, retryAt: this.retryAt, attempt: this.attempt });
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
