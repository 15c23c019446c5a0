"""``python -m costmodel``: the command-line interface (see :mod:`costmodel.cli`)."""

import sys

from costmodel.cli import main

sys.exit(main())
