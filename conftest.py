"""Docstring examples run as doctests, imported under the names the code is installed as.

Plain ``pytest`` walks pyproject's ``testpaths``: ``tests/`` for the tests, and ``mertk/`` and
``plugins/`` for the ``>>>`` examples of every module that has one (modules without examples
are not imported). pytest's own doctest collection names a module after its path, so
``plugins/dual_atme/cbam.py`` would become a second module ``dual_atme.cbam`` with classes of
its own, beside the installed ``mertk_dual_atme.cbam``; here each module of mertk or of a
plugin mertk loads (entry-point group ``mertk``) is imported by its installed name instead,
with or without ``--doctest-modules``. As in kornia's docs, the examples take ``torch`` as
imported.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Generator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestItem, DoctestModule


@functools.cache
def installed_packages() -> dict[Path, str]:
    """Folder -> package name, for mertk and each plugin package mertk loads."""
    names = {"mertk"} | {ep.module.partition(".")[0] for ep in entry_points(group="mertk")}
    folders = {}
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folders[Path(next(iter(spec.submodule_search_locations))).resolve()] = name
    return folders


def installed_name(path: Path) -> str | None:
    """The importable name of the module in ``path``, or ``None`` outside the installed packages."""
    path = path.resolve()
    for folder, package in installed_packages().items():
        if path.is_relative_to(folder):
            *parents, stem = path.relative_to(folder).with_suffix("").parts
            return ".".join([package, *parents] + ([] if stem == "__init__" else [stem]))
    return None


class InstalledDoctestModule(DoctestModule):
    """The doctests of a module imported by its installed name."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(installed_name(self.path))


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path: Path, parent: pytest.Collector
                        ) -> Generator[None, list[pytest.Collector], list[pytest.Collector]]:
    collectors = yield
    if file_path.suffix != ".py" or file_path.name == "__main__.py" or installed_name(file_path) is None:
        return collectors
    collectors = [c for c in collectors if not isinstance(c, DoctestModule)]
    if ">>>" in file_path.read_text(encoding="utf-8"):
        collectors.append(InstalledDoctestModule.from_parent(parent, path=file_path))
    return collectors


@pytest.fixture(autouse=True)
def _examples_import_torch(request: pytest.FixtureRequest) -> None:
    if isinstance(request.node, DoctestItem):
        import torch

        request.getfixturevalue("doctest_namespace")["torch"] = torch
