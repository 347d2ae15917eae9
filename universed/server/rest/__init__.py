"""The REST API: app (the Quart app, its admin routes and the OpenAPI document), universe
(universe administration: snapshots, forks, scenarios, sim config) and agents (agents, policies,
the event ledger)."""
