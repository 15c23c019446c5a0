"""``python -m validate.report``: build the report (see :mod:`validate.report.build`)."""

import sys

from validate.report.build import main

sys.exit(main())
