"""Hook specifications of universed (pluggy project name ``universed``).

Plugins are modules or objects with functions marked ``@universed.plugins.hookimpl``,
registered through the ``universed`` setuptools entry-point group::

    [project.entry-points.universed]
    mypolicies = "mypackage.policies"

The built-in policies (``wait``, ``fallback``) register through these same hooks
(universed/agents/builtin_policies.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ..core.policy import Policy

hookspec = pluggy.HookspecMarker("universed")
#: marks a plugin's hook implementations (re-exported as ``universed.plugins.hookimpl``)
hookimpl = pluggy.HookimplMarker("universed")


@hookspec
def universed_policies() -> Mapping[str, Policy] | None:
    """Contribute in-process policies.

    When called: once, at daemon start, after all plugins are registered.

    Arguments: none.

    Result: a mapping of policy name to policy object (see policy.py: it has ``decide`` and
    optionally ``on_birth`` / ``on_death``), or None to contribute nothing. Every plugin's
    result is collected. Names are validated when the daemon starts: a name must be a non-empty
    string unique across all plugins, and the object must have a callable ``decide``; a plugin
    that breaks these rules is logged and its offending entries are skipped.
    """


@hookspec
def universed_configure(config: Mapping[str, Any]) -> None:
    """Receive the daemon's configuration.

    When called: once, at daemon start, before ``universed_policies``.

    Arguments: ``config``: the validated daemon configuration as a read-only mapping (the keys
    of default.toml).

    Result: ignored.
    """
