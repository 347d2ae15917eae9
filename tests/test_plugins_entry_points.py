"""The policy plugins are real installed distributions, loaded through real entry points."""

from __future__ import annotations

from importlib.metadata import distribution, entry_points

from helpers import running_daemon

PLUGINS = {
    "universed-policy-random": ("random", "random"),
    "universed-policy-greedy-miner": ("greedy_miner", "greedy-miner"),
    "universed-policy-explorer": ("explorer", "explorer"),
    "universed-policy-llm": ("llm", "llm"),
}


def test_every_plugin_is_an_installed_distribution_with_an_entry_point() -> None:
    names = {ep.name: ep for ep in entry_points(group="universed")}
    for dist_name, (ep_name, _policy) in PLUGINS.items():
        dist = distribution(dist_name)
        assert dist.version == "0.1.0"
        ours = [ep for ep in dist.entry_points if ep.group == "universed"]
        assert [ep.name for ep in ours] == [ep_name]
        assert names[ep_name].value == ours[0].value


async def test_the_daemon_loads_them_at_start_and_runs_them() -> None:
    policies = {"1-1": "greedy-miner"}
    async with running_daemon(policies=policies) as daemon:
        for _dist, (_ep, policy) in PLUGINS.items():
            assert policy in daemon.policies
        plugin_names = {name for name, _plugin in daemon.pm.list_name_plugin()}
        assert {"explorer", "random", "greedy_miner", "llm"} <= plugin_names
        await daemon.engine.manual_tick(30)
        assert daemon.registry.controller_name("1-1") == "greedy-miner"
        obs = daemon.engine.observations["1-1"]
        assert obs["last_action"]["action"] != "wait"  # the plugin decided, not the fallback
        agents = daemon.describe_agents()
        assert agents["assignments"] == {"1-1": "greedy-miner"}
        assert {"explorer", "greedy-miner", "llm", "random"} <= set(agents["policies"])
