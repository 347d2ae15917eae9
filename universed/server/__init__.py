"""The server: the network front door around the core.

gateway (one listening socket: WebSocket agents, dashboard, HTTP), wstransport and readmux (the
WebSocket framing and the read multiplexer), rest/ (the REST API), auth and limits (who may do
what, how much), dashboard (the per-tick fan-out) and daemon (the composition root that wires
core, agent kit and server together). See docs/architecture.md.
"""
