"""``python -m costmodel``: the command-line interface (see :mod:`costmodel.cli`)."""

import sys

try:
    from costmodel.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting up: the same one line as during a run
    print("costmodel: interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
