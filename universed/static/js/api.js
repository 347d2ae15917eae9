// REST client for the daemon's /api/*. Mutating calls carry the admin token (if one is stored);
// a 401/403 asks the page for a token once and retries.

const TOKEN_KEY = "universed.token";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lives for this call only */ }
}

export class Api {
  /**
   * @param {string} base  URL prefix of the daemon ("" = same origin)
   * @param {(reason: string) => Promise<string|null>} askToken  shows the token dialog
   */
  constructor(base, askToken) {
    this.base = base;
    this.askToken = askToken;
  }

  /** One token dialog at a time, however many requests were refused meanwhile. */
  promptToken(reason) {
    if (!this.prompting) {
      this.prompting = this.askToken(reason).finally(() => { this.prompting = null; });
    }
    return this.prompting;
  }

  async request(method, path, body, { retry = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // The stored token goes with every call: the admin token also passes the read checks of a
    // daemon with `auth_read = "token"`, and a read token is all a read-only viewer needs.
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    const resp = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let data = null;
    const text = await resp.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = { raw: text }; }
    }
    if ((resp.status === 401 || resp.status === 403) && retry) {
      const reason = data?.error?.message || (resp.status === 401 ? "A token is required." : "This token is not allowed to do that.");
      const fresh = await this.promptToken(reason);
      if (fresh !== null) return this.request(method, path, body, { retry: false });
    }
    if (!resp.ok) {
      const err = data?.error || {};
      throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || resp.statusText, err.details);
    }
    return data;
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }

  status(limit = 0) { return this.get(`/api/status?limit=${limit}`); }
  metrics() { return this.get("/api/metrics"); }
  probes(limit, offset, status) {
    const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (status) q.set("status", status);
    return this.get(`/api/probes?${q}`);
  }
  probe(id) { return this.get(`/api/probes/${encodeURIComponent(id)}`); }
  system(id) { return this.get(`/api/systems/${encodeURIComponent(id)}`); }
  agents() { return this.get("/api/agents"); }
  /** The set of documented paths (from /api/openapi.json), or null if there is no document. */
  async paths() {
    if (!this._paths) {
      this._paths = this.get("/api/openapi.json")
        .then((doc) => new Set(Object.keys(doc?.paths || {})))
        .catch((e) => { this._paths = null; if (e instanceof ApiError) return null; throw e; });
    }
    return this._paths;
  }
  /**
   * The ledger (a later issue): null when the daemon does not have /api/events. Its presence is
   * read from the OpenAPI document first, so an older daemon costs no 404 in the console.
   */
  async events(params) {
    const paths = await this.paths();
    if (!paths || !paths.has("/api/events")) return null;
    try {
      return await this.get(`/api/events?${new URLSearchParams(params)}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  }
  pause() { return this.post("/api/pause"); }
  resume() { return this.post("/api/resume"); }
  step(count = 1) { return this.post("/api/tick?shape=readable", { count }); }
  snapshot(tag) { return this.post("/api/snapshot", { tag }); }
  mode(mode, tickRate) {
    const body = { mode };
    if (tickRate !== undefined && tickRate !== null && !Number.isNaN(tickRate)) body.tick_rate = tickRate;
    return this.post("/api/mode", body);
  }
}
