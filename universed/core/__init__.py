"""The core: the tick loop and everything it needs to be deterministic and durable.

engine (the tick loop) and its parts: window (the action window), probes (the probe index),
observe (what a tick observes, the dashboard message), recovery (checkpoints, resume, sim
recovery), commands (the admin commands, reload), state (the engine as its parts see it);
registry (probe -> controller), simproc (the sim supervisor), journal and store (write-ahead
journal, checkpoints, replay), ledger (the event history), messages (the wire protocol), config,
metrics, notify (sd_notify) and policy (the interface the tick loop calls).
The core imports nothing above it (docs/architecture.md).
"""
