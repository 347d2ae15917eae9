"""Public import path of `universed.agents.client` (kept for users; see docs/architecture.md)."""

from .agents.client import *  # noqa: F403
from .agents.client import __all__ as __all__
