"""Keep the commands shown in README.md and docs/*.md true: run them, compare, or rewrite.

Two kinds of example are checked:

* **Console examples**: a fenced ```console block whose first line is ``$ costmodel ...`` or
  ``$ python -m validate ...``; the lines after it are that command's output.  For ``costmodel``
  it is stdout and stderr, as a user sees them (run in this process); for ``validate`` it is
  stdout only (run in a fresh process: stderr holds progress and timing lines that differ from
  run to run).  Only commands whose output does not depend on the machine's speed belong here.
* **Every other command shown** in a fenced block or an indented example of those pages
  (``costmodel``, ``.venv/bin/costmodel``, ``python -m costmodel``, ``python -m validate``,
  ``python -m validate.report``): its arguments are parsed by the command's own parser, so an
  option or command that was renamed or removed is caught.  Measured outputs beside them are
  records of a run (their pages say where and when), not checked here.

    python scripts/doc_examples.py            # rewrite every console example's output
    python scripts/doc_examples.py --check    # exit 1 when any example is stale or does not parse

``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```console\n\$ (?P<command>[^\n]+)\n(?P<output>.*?)```", re.DOTALL)
FENCE = re.compile(r"```[a-z]*\n(?P<body>.*?)```", re.DOTALL)
#: How a shown command starts -> (the module whose parser reads it, its words to drop).
PROGRAMS = {
    ("costmodel",): "costmodel.cli",
    (".venv/bin/costmodel",): "costmodel.cli",
    ("python", "-m", "costmodel"): "costmodel.cli",
    ("python", "-m", "validate"): "validate.cli",
    ("python", "-m", "validate.report"): "validate.report.build",
    (".venv/bin/python", "-m", "costmodel"): "costmodel.cli",
    (".venv/bin/python", "-m", "validate"): "validate.cli",
    (".venv/bin/python", "-m", "validate.report"): "validate.report.build",
}
#: Commands whose console examples run in a fresh process, stdout only.
FRESH_PROCESS = {"validate.cli"}


def program_of(words: list[str]) -> tuple[str, list[str]] | None:
    """The module that parses a shown command, and its arguments; None for anything else."""
    for prefix, module in sorted(PROGRAMS.items(), key=lambda item: -len(item[0])):
        if tuple(words[: len(prefix)]) == prefix:
            return module, words[len(prefix) :]
    return None


def run_example(command: str) -> str:
    """The output of one console example's command."""
    found = program_of(shlex.split(command))
    if found is None:
        raise ValueError(f"documented command {command!r} runs an unknown program")
    module_name, argv = found
    if module_name in FRESH_PROCESS:
        done = subprocess.run(
            [sys.executable, "-m", module_name.removesuffix(".cli"), *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command!r} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return done.stdout
    module = __import__(module_name, fromlist=["main"])
    stream = io.StringIO()
    with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
        module.main(argv)
    return stream.getvalue()


def refreshed(text: str) -> str:
    """The page with every console example's output replaced by a fresh run."""

    def replace(match):
        return f"```console\n$ {match['command']}\n{run_example(match['command'])}```"

    return BLOCK.sub(replace, text)


def shown_commands(text: str) -> list[str]:
    """Every command line shown in a fenced block (continuations joined, comments dropped)."""
    commands = []
    for block in FENCE.finditer(text):
        joined = block["body"].replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            if program_of(words) is not None:
                commands.append(" ".join(shlex.quote(word) for word in words))
    return commands


def parse_error(command: str) -> str | None:
    """Why the command's own parser refuses a shown command, or None when it parses."""
    module_name, argv = program_of(shlex.split(command)) or ("", [])
    parser = __import__(module_name, fromlist=["build_parser"]).build_parser()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            parser.parse_args(argv)
    except SystemExit as stop:  # --help
        return None if stop.code == 0 else f"exit status {stop.code}"
    except Exception as error:  # noqa: BLE001 (any refusal is the finding)
        return str(error)
    return None


def problems() -> list[str]:
    """What is wrong with the pages' examples: stale console output, commands that no longer parse."""
    found = []
    for page in PAGES:
        text = page.read_text()
        if refreshed(text) != text:
            found.append(f"{page.name}: console examples are stale; run python scripts/doc_examples.py")
        for command in shown_commands(text):
            error = parse_error(command)
            if error:
                found.append(f"{page.name}: `{command}` does not parse: {error}")
    return found


def main() -> int:
    if "--check" in sys.argv[1:]:
        found = problems()
        for problem in found:
            print(problem)
        return 1 if found else 0
    for page in PAGES:
        page.write_text(refreshed(page.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
