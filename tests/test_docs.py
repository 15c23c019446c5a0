"""The documentation tells the truth: its console examples are real output."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_console_examples_in_docs_match_a_fresh_run():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "doc_examples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_docs_python_examples_run(tmp_path):
    import doctest

    failures, tried = doctest.testfile(
        str(ROOT / "docs" / "costmodel.md"), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert tried > 0
    assert failures == 0
