"""Shared test set-up: a test skips, saying why, where its backend is not installed or sees no GPU;
a session whose tests need no framework fails if one was imported all the same.

TensorFlow comes with ``make install`` (the ``validate`` extra); a test marked
``tensorflow`` skips with that instruction where it is not installed.  JAX and
PyTorch are opt-in (``make install BACKENDS=1``); a test marked ``jax`` or
``torch`` skips with that instruction where the package is absent.  Whether a
package is installed is asked with ``importlib.util.find_spec``, which imports
nothing.

A test marked ``gpu`` runs on the backend its other marker names (``jax``,
``torch``; ``tensorflow`` otherwise).  Whether that backend sees a GPU is asked
only when such a test is about to run, never while collecting (collection comes
before ``-m`` deselects, and asking imports the framework), and only the
framework is asked, never Keras, so asking does not fix the Keras backend of the
test process.

A session none of whose selected tests is marked ``tensorflow``, ``jax``,
``torch`` or ``gpu`` (``make test-fast``) must import none of those frameworks:
where one was imported all the same (by a test module, a module collected for
its doctests, or an unmarked test), the session fails and says which.
"""

import functools
import importlib.util
import sys

import pytest

FRAMEWORKS = ("tensorflow", "jax", "torch")
INSTALL = {"tensorflow": "make install", "jax": "make install BACKENDS=1", "torch": "make install BACKENDS=1"}

IMPORTED_UNASKED = pytest.StashKey[str]()


@functools.cache
def gpu_absence(backend_name: str) -> str | None:
    """Why a GPU test on this backend cannot run here, or None when it can."""
    from validate.frameworks import backends  # imports no framework; get_backend imports the one asked for

    try:
        backend = backends.get_backend(backend_name)
    except backends.BackendUnavailableError as error:
        return str(error)
    if not backend.gpu_names():
        return f"no GPU visible to {backend.spec.title} on this machine"
    return None


def absence(item) -> str | None:
    """Why this test cannot run here (its framework is not installed, or sees no GPU), or None."""
    for name in FRAMEWORKS:
        if item.get_closest_marker(name) and importlib.util.find_spec(name) is None:
            return f"{name} is not installed ({INSTALL[name]})"
    if item.get_closest_marker("gpu"):
        return gpu_absence(next((name for name in FRAMEWORKS if item.get_closest_marker(name)), "tensorflow"))
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest's own skipping (registered earlier), which reads the mark
def pytest_runtest_setup(item):
    reason = absence(item)
    if reason:
        item.add_marker(pytest.mark.skip(reason=reason))  # a mark: the skip is reported at the test


def needs_a_framework(item) -> bool:
    return any(item.get_closest_marker(name) for name in (*FRAMEWORKS, "gpu"))


def pytest_sessionfinish(session):
    if any(needs_a_framework(item) for item in getattr(session, "items", ())):
        return
    imported = [name for name in FRAMEWORKS if name in sys.modules]
    if not imported:
        return
    session.config.stash[IMPORTED_UNASKED] = (
        f"{' and '.join(imported)} imported, but no selected test is marked {' or '.join(imported)}: "
        "a test module, a module collected for its doctests, or an unmarked test imports it; mark the test "
        "that needs it or make the import lazy (python -X importtime -m pytest ... shows the importer)"
    )
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    message = config.stash.get(IMPORTED_UNASKED, None)
    if message:
        terminalreporter.section("framework imported unasked", red=True)
        terminalreporter.write_line(message, red=True)
