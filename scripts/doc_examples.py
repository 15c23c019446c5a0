"""Keep the console examples in docs/*.md true: re-run them, compare or rewrite.

A console example is a fenced ```console block whose first line is
``$ costmodel ...``; the lines after it are that command's output (stdout and
stderr, as a user sees them).

    python scripts/doc_examples.py            # rewrite every example's output
    python scripts/doc_examples.py --check    # exit 1 when any example is stale

``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import shlex
import sys

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```console\n\$ (?P<command>[^\n]+)\n(?P<output>.*?)```", re.DOTALL)
PROGRAMS = {"costmodel": "costmodel.cli"}


def run_example(command: str) -> str:
    """The output of one documented command, run in this process."""
    program, *argv = shlex.split(command)
    if program not in PROGRAMS:
        raise ValueError(f"documented command {command!r} runs an unknown program")
    module = __import__(PROGRAMS[program], fromlist=["main"])
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        module.main(argv)
    return stream.getvalue()


def refreshed(text: str) -> str:
    """The page with every console example's output replaced by a fresh run."""

    def replace(match):
        return f"```console\n$ {match['command']}\n{run_example(match['command'])}```"

    return BLOCK.sub(replace, text)


def stale_pages() -> list[pathlib.Path]:
    return [page for page in sorted(DOCS.glob("*.md")) if refreshed(page.read_text()) != page.read_text()]


def main() -> int:
    if "--check" in sys.argv[1:]:
        stale = stale_pages()
        for page in stale:
            print(f"{page.name}: console examples are stale; run python scripts/doc_examples.py")
        return 1 if stale else 0
    for page in sorted(DOCS.glob("*.md")):
        page.write_text(refreshed(page.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
