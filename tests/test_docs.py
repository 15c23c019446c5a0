"""The documentation tells the truth: its console examples are real output."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def doc_examples():
    spec = importlib.util.spec_from_file_location("doc_examples", ROOT / "scripts" / "doc_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.tensorflow  # the validate network examples run in fresh processes (about 35 s in all)
def test_console_examples_in_docs_match_a_fresh_run_and_every_shown_command_parses():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "doc_examples.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_finds_every_shown_command_and_refuses_one_that_no_longer_parses():
    module = doc_examples()
    page = """text
```sh
.venv/bin/costmodel savings 5x5 --scheme stack   # a comment
python -m validate sweep --preset quick \\
    --out results/q
python -m validate network MobileNet --alpha 0.5 --no-such-option
make report
```
"""
    commands = module.shown_commands(page)
    assert commands == [
        ".venv/bin/costmodel savings 5x5 --scheme stack",
        "python -m validate sweep --preset quick --out results/q",
        "python -m validate network MobileNet --alpha 0.5 --no-such-option",
    ]
    assert [module.parse_error(command) for command in commands[:2]] == [None, None]
    assert "unrecognized arguments: --no-such-option" in module.parse_error(commands[2])
    shown = [command for page in module.PAGES for command in module.shown_commands(page.read_text())]
    assert any(command.startswith("python -m validate network") for command in shown)


def test_docs_python_examples_run(tmp_path):
    import doctest

    failures, tried = doctest.testfile(
        str(ROOT / "docs" / "costmodel.md"), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert tried > 0
    assert failures == 0
