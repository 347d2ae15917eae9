"""``python -m universed``: the ``universed`` command."""

import sys

from .cli.commands import main

sys.exit(main())
