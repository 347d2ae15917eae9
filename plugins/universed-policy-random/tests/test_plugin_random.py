"""The random policy: valid, varied, reproducible actions; loaded through its entry point."""

from __future__ import annotations

from universed_policy_random import RandomPolicy

from universed.messages import ACTION_NAMES
from universed.plugins import load_policies, make_plugin_manager

OBS = {"probe_id": "1-1", "tick": 0, "system": "13835060254306467840-65536", "hull": 1.0}


def test_registered_through_the_entry_point() -> None:
    assert isinstance(load_policies(make_plugin_manager(), {})["random"], RandomPolicy)


def test_actions_are_valid_varied_and_reproducible() -> None:
    policy = RandomPolicy(seed=7)
    actions = [policy.decide({**OBS, "tick": t}) for t in range(300)]
    names = {a["action"] for a in actions}
    assert names <= ACTION_NAMES and len(names) >= 8
    assert all(a["resource"] for a in actions if a["action"] == "mine")
    assert all(
        a["target_body"].startswith("13835060254306467840-655")
        for a in actions
        if a["action"] == "navigate_to_body"
    )
    assert actions == [RandomPolicy(seed=7).decide({**OBS, "tick": t}) for t in range(300)]
    assert actions != [RandomPolicy(seed=8).decide({**OBS, "tick": t}) for t in range(300)]
