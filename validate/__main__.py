"""``python -m validate``: run an experiment (see :mod:`validate.cli`)."""

import sys

from validate.cli import main

sys.exit(main())
