"""The import layering, read from the source (every import, lazy ones inside functions included).

costmodel            the theory: no validate, no framework, no pandas/matplotlib
                     (costmodel.latency: each module imports only those before it in LATENCY_ORDER)
validate.harness     timing and statistics: numpy, scipy, the standard library and costmodel.checks only
validate.frameworks  backends, Keras building, cross-checks: no experiments, results or report
validate.results     schema, store, summaries: no framework, no experiments, no report
validate.experiments plans, runner, calibration, session: anything below it
validate.report      pandas and matplotlib over stored results: no framework, no experiments' runner
"""

import ast
import pathlib

import pytest
from helpers import REPO_ROOT

FRAMEWORKS = ("tensorflow", "keras", "jax", "jaxlib", "torch")
PLOTTING = ("pandas", "matplotlib")

# package -> module prefixes it must never import
FORBIDDEN = {
    "costmodel": ("validate", *FRAMEWORKS, *PLOTTING),
    "validate/harness": (
        "validate.frameworks",
        "validate.experiments",
        "validate.results",
        "validate.report",
        "costmodel",
        *FRAMEWORKS,
        *PLOTTING,
        "sympy",
    ),
    "validate/frameworks": ("validate.experiments", "validate.results", "validate.report", *PLOTTING),
    "validate/results": ("validate.frameworks", "validate.experiments", "validate.report", *FRAMEWORKS, *PLOTTING),
    "validate/report": (
        "validate.frameworks",
        "validate.experiments.runner",
        "validate.experiments.session",
        "validate.experiments.calibrate",
        *FRAMEWORKS,
    ),
}


def imported_modules(path: pathlib.Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


# The one exception: the harness shares the project's argument checks (standard library only).
ALLOWED = {"validate/harness": ("costmodel.checks",)}


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if any(module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED.get(package, ())):
                continue
            if any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden):
                found.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_lies_below_it(package):
    assert (REPO_ROOT / package).is_dir()
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_finds_a_forbidden_import(tmp_path, monkeypatch):
    """The rule itself must be able to fail: a planted import is reported."""
    package = tmp_path / "validate" / "harness"
    package.mkdir(parents=True)
    (package / "bad.py").write_text("def f():\n    import tensorflow as tf\n    from validate.report import x\n")
    monkeypatch.setattr(__import__(__name__), "REPO_ROOT", tmp_path)
    assert violations("validate/harness", FORBIDDEN["validate/harness"]) == [
        "validate/harness/bad.py imports tensorflow",
        "validate/harness/bad.py imports validate.report",
        "validate/harness/bad.py imports validate.report.x",
    ]


# costmodel.latency, one module per job: each may import only those before it (so no cycle).
LATENCY_ORDER = ("kernel_factors", "profile", "predict", "explanation", "calibration", "network")


def test_the_latency_modules_import_only_those_before_them():
    package = REPO_ROOT / "costmodel" / "latency"
    assert sorted(path.stem for path in package.glob("*.py")) == sorted((*LATENCY_ORDER, "__init__"))
    found = []
    for index, name in enumerate(LATENCY_ORDER):
        for module in sorted(imported_modules(package / f"{name}.py")):
            later = [other for other in LATENCY_ORDER[index:] if module.startswith(f"costmodel.latency.{other}")]
            if later or module in ("costmodel.latency", "costmodel.latency.__init__"):
                found.append(f"costmodel/latency/{name}.py imports {module}")
    assert found == []
