"""The agent kit: what a policy author or an agent uses.

client (the WebSocket/REST SDK), agentrun (``universed agent run``), fleet (the fleet commander),
hookspecs and plugins (the ``universed`` pluggy hooks and their loading), builtin_policies
(``wait``, ``fallback``). The policy interface lives in the core (core/policy.py: the tick loop
calls it) and is re-exported here and at ``universed.policy``.
"""

from ..core.policy import Action, Observation, Policy
from .hookspecs import hookimpl

__all__ = ["Action", "Observation", "Policy", "hookimpl"]
