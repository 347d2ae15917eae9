// A minimal remote agent in JavaScript: Node 22+ (global WebSocket), or Node 20/21 with
// `node --experimental-websocket`. No dependencies.
//
//   node examples/minimal_agent.mjs [http://127.0.0.1:8000] [ticks]
//
// It discovers a probe through the REST API (the first active one), registers for it over the
// agent WebSocket, and answers every observation: repair when damaged, survey, otherwise mine.
// With a tick count it exits after answering that many observations.

const base = process.argv[2] ?? "http://127.0.0.1:8000";
const maxTicks = process.argv[3] ? Number(process.argv[3]) : Infinity;

if (typeof WebSocket === "undefined") {
  console.error("no global WebSocket: use Node 22+, or node --experimental-websocket");
  process.exit(2);
}

const status = await (await fetch(`${base}/api/status?limit=100`)).json();
const probe = status.probes.find((p) => p.status !== "destroyed");
if (!probe) {
  console.error("no live probe to drive");
  process.exit(1);
}

function decide(obs) {
  if (obs.hull < 0.5 && (obs.cargo?.iron ?? 0) >= 10) return { action: "repair" };
  if (obs.activity) return { action: "wait" };
  const level = obs.survey?.level ?? obs.system_survey ?? 0;
  if (level < 1) return { action: "survey" };
  if (obs.location === "landed") {
    const res = Object.entries(obs.survey?.resources ?? {}).sort((a, b) => b[1] - a[1]);
    if (res.length > 0) return { action: "mine", resource: res[0][0] };
  }
  return { action: "survey" };
}

let ticks = 0;
const ws = new WebSocket(base.replace(/^http/, "ws") + "/ws");
ws.onopen = () => ws.send(JSON.stringify({ type: "register", probe_id: probe.id }));
ws.onmessage = (e) => {
  const msg = JSON.parse(e.data);
  if (msg.type === "registered") console.log(`registered for ${msg.probe_id}`);
  if (msg.type === "error") console.error(`error ${msg.code}: ${msg.message}`);
  if (msg.type !== "observe") return;
  const action = decide(msg);
  ws.send(JSON.stringify(action));
  ticks += 1;
  console.log(`tick ${msg.tick} ${msg.probe_id} ${msg.status} hull=${msg.hull} -> ${action.action}`);
  if (ticks >= maxTicks) ws.close();
};
ws.onclose = () => process.exit(0);
