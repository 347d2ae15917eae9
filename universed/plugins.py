"""Public import path of `universed.agents.plugins` (kept for users; see docs/architecture.md)."""

from .agents.plugins import *  # noqa: F403
from .agents.plugins import __all__ as __all__
