const ws = new WebSocket("ws://localhost:8000/ws");

ws.onopen = () => {
  ws.send(JSON.stringify({ type: "register", probe_id: "1-1" }));
};

ws.onmessage = (e) => {
  const msg = JSON.parse(e.data);
  if (msg.type === "observe") {
    // Simple strategy: repair if damaged, otherwise survey
    const action = msg.hull < 0.5
      ? { action: "repair" }
      : { action: "survey" };
    ws.send(JSON.stringify(action));
  }
};
