"""universed-policy-explorer: a full Bob life cycle that grows a civilization.

Registered through the ``universed`` entry point group as ``explorer``; see `policy.ExplorerPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping

from universed.plugins import hookimpl
from universed.policy import Policy

from .policy import DEFAULT_RECIPE, RESOURCES, ExplorerPolicy

__all__ = ["DEFAULT_RECIPE", "RESOURCES", "ExplorerPolicy", "universed_policies"]


@hookimpl
def universed_policies() -> Mapping[str, Policy]:
    return {"explorer": ExplorerPolicy()}
