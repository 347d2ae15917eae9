"""Public import path of `universed.core.messages` (kept for users; see docs/architecture.md)."""

from .core.messages import *  # noqa: F403
from .core.messages import __all__ as __all__
