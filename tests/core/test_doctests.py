"""Plain ``pytest`` runs the docstring examples of mertk and of the in-tree plugins (root conftest.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_pytest_walks_the_packages(pytestconfig):
    assert {"tests", "mertk", "plugins"} <= set(pytestconfig.getini("testpaths"))


def test_modules_are_named_as_installed():
    installed_name = _root_conftest().installed_name
    assert installed_name(ROOT / "plugins" / "dual_atme" / "cbam.py") == "mertk_dual_atme.cbam"
    assert installed_name(ROOT / "plugins" / "baselines" / "__init__.py") == "mertk_baselines"
    assert installed_name(ROOT / "mertk" / "preprocess" / "roi.py") == "mertk.preprocess.roi"
    assert installed_name(ROOT / "tests" / "core" / "test_doctests.py") is None


def test_examples_are_collected_under_installed_module_names():
    """Also with ``--doctest-modules``, whose own collector would import ``dual_atme.cbam``; a module
    without examples (``errors.py``) gives no item."""
    files = ["plugins/dual_atme/cbam.py", "mertk/preprocess/roi.py", "mertk/preprocess/errors.py"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--doctest-modules", *files], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [line for line in proc.stdout.splitlines() if "::" in line] == [
        "plugins/dual_atme/cbam.py::mertk_dual_atme.cbam.CBAM",
        "mertk/preprocess/roi.py::mertk.preprocess.roi.FullFace",
        "mertk/preprocess/roi.py::mertk.preprocess.roi.Hars",
        "mertk/preprocess/roi.py::mertk.preprocess.roi.resize",
    ]
