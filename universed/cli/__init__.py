"""The command line: ``universed`` (commands.py: serve, config and the subcommands), the operator
commands (admin.py: status, snapshot, replay, verify, check-config), ``universed top`` (top.py)
and ``universed install-service``."""

from .commands import main

__all__ = ["main"]
