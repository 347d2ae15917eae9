"""Public import path of `universed.core.simproc` (kept for users; see docs/architecture.md)."""

from .core.simproc import *  # noqa: F403
from .core.simproc import __all__ as __all__
