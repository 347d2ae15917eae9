"""Plugin discovery (pluggy): loads the ``universed`` entry points and collects policies.

``hookimpl`` is defined in hookspecs.py (so the built-in policies need not import this module)
and re-exported here: plugins write ``from universed.plugins import hookimpl``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import pluggy

from ..core.policy import Policy
from . import hookspecs
from .hookspecs import hookimpl

__all__ = ["PolicyTable", "hookimpl", "load_policies", "make_plugin_manager"]

log = logging.getLogger(__name__)

PolicyTable = dict[str, Policy]


def make_plugin_manager(
    extra_plugins: Iterable[object | ModuleType] = (), *, entry_points: bool = True
) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs, the installed entry points and ``extra_plugins``.

    The built-in policies come through the ``builtin`` entry point; when universed runs from a
    source tree without an installed distribution they are registered directly (same hooks).
    """
    pm = pluggy.PluginManager("universed")
    pm.add_hookspecs(hookspecs)
    if entry_points:
        pm.load_setuptools_entrypoints("universed")
    from . import builtin_policies

    if not pm.is_registered(builtin_policies) and pm.get_plugin("builtin") is None:
        pm.register(builtin_policies, name="builtin")
    for plugin in extra_plugins:
        pm.register(plugin)
    return pm


def load_policies(pm: pluggy.PluginManager, config: Mapping[str, Any]) -> PolicyTable:
    """Call the hooks and validate what plugins contribute (bad entries are logged, skipped)."""
    pm.hook.universed_configure(config=config)
    table: PolicyTable = {}
    # built-ins first (their names win), then the others in registration order
    impls = sorted(
        pm.hook.universed_policies.get_hookimpls(), key=lambda i: i.plugin_name != "builtin"
    )
    for impl in impls:
        plugin_name = impl.plugin_name
        try:
            result = impl.function()
        except Exception:
            log.exception("plugin %s: universed_policies raised; skipped", plugin_name)
            continue
        if result is None:
            continue
        if not isinstance(result, Mapping):
            log.error("plugin %s: universed_policies must return a mapping; skipped", plugin_name)
            continue
        for name, policy in result.items():
            if not isinstance(name, str) or not name:
                log.error("plugin %s: policy name %r is not a non-empty string", plugin_name, name)
            elif name in table:
                log.error("plugin %s: policy %r already registered; skipped", plugin_name, name)
            elif not callable(getattr(policy, "decide", None)):
                log.error("plugin %s: policy %r has no callable decide()", plugin_name, name)
            else:
                table[name] = policy
    return table
