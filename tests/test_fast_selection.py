"""``make test-fast`` (no test marked slow, tensorflow, jax or torch) imports no framework.

The check itself is tests/conftest.py's: a session none of whose selected tests
is marked for a framework fails when one was imported, so every ``make
test-fast`` checks itself.  Here: that the check fails such a session and
passes a marked one (and that a ``tensorflow`` test skips where TensorFlow is
missing); and, in ``make test`` (which selects everything, so is not checked),
that the fast selection, collected whole and run where it drives the validator
in-process, leaves TensorFlow unimported.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

FRAMEWORKS = ("tensorflow", "jax", "torch")


def fast_selection() -> str:
    """The ``-m`` expression of ``make test-fast``, as the Makefile has it."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    found = re.search(r"^test-fast:.*\n\t.*-m pytest -m '([^']+)'", makefile, re.MULTILINE)
    assert found, "make test-fast runs no pytest -m '...'"
    return found.group(1)


def test_the_fast_selection_is_the_one_without_framework_or_slow_tests():
    assert fast_selection() == "not slow and not tensorflow and not jax and not torch"


# A test that imports a framework (a stand-in module: the real TensorFlow takes seconds).
PROBE = """
import sys, types
import pytest

{marker}
def test_imports_a_framework():
    sys.modules["tensorflow"] = types.ModuleType("tensorflow")
"""

# A plugin that makes TensorFlow look not installed, as importlib.util.find_spec sees it.
HIDE_TENSORFLOW = """
import importlib.util

real_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *args: None if name == "tensorflow" else real_find_spec(name, *args)
"""


@pytest.mark.parametrize(
    "marker, hidden, status, said",
    [
        ("", False, 1, "tensorflow imported, but no selected test is marked tensorflow"),
        ("@pytest.mark.tensorflow", False, 0, "1 passed"),
        ("@pytest.mark.tensorflow", True, 0, "SKIPPED [1] test_probe.py:5: tensorflow is not installed (make install)"),
    ],
    ids=["unmarked-fails-the-session", "marked-passes", "marked-skips-without-tensorflow"],
)
def test_a_framework_imported_by_no_marked_test_fails_the_session(tmp_path, marker, hidden, status, said):
    (tmp_path / "test_probe.py").write_text(PROBE.format(marker=marker))
    (tmp_path / "hide_tensorflow.py").write_text(HIDE_TENSORFLOW)
    # tests/conftest.py as a plugin: the probe lies outside tests/.
    plugins = ["-p", "conftest", *(["-p", "hide_tensorflow"] if hidden else [])]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-p", "no:cacheprovider", "-q", "-rs", "test_probe.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT / "tests")])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == status, done.stdout + done.stderr
    assert said in done.stdout, done.stdout
    assert ("framework imported unasked" in done.stdout) == (status == 1), done.stdout


# pytest in this child's own process, then what it imported.  Every test of the selection is
# collected (test modules, and every module for its doctests: module-level imports and the
# conftest's collection hooks); the tests that drive the validator in-process also run.
IN_PROCESS = """
import json, sys
import pytest

selection, frameworks, run = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]


class RunOnly:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        kept = [item for item in items if item.nodeid.startswith(tuple(run))]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


status = pytest.main(["-m", selection, "-q", "-p", "no:cacheprovider"], plugins=[RunOnly()])
print(json.dumps({"status": int(status), "imported": [name for name in frameworks if name in sys.modules]}))
"""

RUN = (
    "validate/",  # the doctests of every validator module
    "tests/validate/test_validate_cli_fuzz.py",  # validate's main, in-process, on any command line
    "tests/validate/test_validate_cli.py",
    "tests/validate/frameworks/",
)


@pytest.mark.slow
def test_the_fast_selection_imports_no_framework():
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, fast_selection(), ",".join(FRAMEWORKS), *RUN],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["imported"] == [], done.stdout[-3000:]
    assert outcome["status"] == 0, done.stdout[-3000:]
