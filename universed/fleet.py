"""Public import path of `universed.agents.fleet` (kept for users; see docs/architecture.md)."""

from .agents.fleet import *  # noqa: F403
from .agents.fleet import __all__ as __all__
