"""Public import path of `universed.core.policy` (kept for users; see docs/architecture.md)."""

from .core.policy import *  # noqa: F403
from .core.policy import __all__ as __all__
