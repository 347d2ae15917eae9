"""``python -m universed.cli``: the ``universed`` command."""

import sys

from .commands import main

sys.exit(main())
