"""The import structure of docs/architecture.md, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports(config: Path) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--config", str(config), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True)


def test_every_import_runs_the_way_the_contracts_say() -> None:
    proc = _lint_imports(ROOT / "pyproject.toml")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_the_checker_sees_lazy_imports(tmp_path) -> None:
    """A contract that the code breaks only inside a function (the engine imports preprocessing
    lazily) is reported broken, so the real contracts are not passing on an empty graph."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["mertk"]\n\n'
                      '[[tool.importlinter.contracts]]\nname = "planted"\ntype = "forbidden"\n'
                      'source_modules = ["mertk.engine.run"]\nforbidden_modules = ["mertk.preprocess.pipeline"]\n')
    proc = _lint_imports(config)
    assert proc.returncode == 1 and "mertk.engine.run -> mertk.preprocess.pipeline" in proc.stdout, proc.stdout[-3000:]


def test_no_import_circle_among_mertks_modules() -> None:
    """No module of mertk imports, directly or through others, a module that imports it back, counting
    the imports inside functions (a lazy import hides a circle from Python, not from a reader)."""
    import grimp

    graph = grimp.build_graph("mertk", cache_dir=None)
    circles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                circles.add(" -> ".join((module, *back)))
    assert not circles, "import circles: " + "; ".join(sorted(circles))


def test_the_architecture_tour_names_functions_that_exist_and_call_each_other() -> None:
    """docs/architecture.md's path from `mertk run` to an optimizer step: at most six hops, each a
    function that imports, and each hop's source calls the next (so a rename or a new layer
    breaks this test, not the page)."""
    import importlib
    import inspect
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    tour = text.split("## From `mertk run` to an optimizer step", 1)[1].split("\n## ", 1)[0]
    hops = re.findall(r"^\d+\. `([\w.]+)`", tour, flags=re.M)
    assert 1 <= len(hops) <= 6, hops

    def resolve(path: str):
        module, _, rest = path.partition(".")
        for i in range(path.count("."), 0, -1):  # the longest importable module prefix
            module, rest = ".".join(path.split(".")[:i]), path.split(".")[i:]
            try:
                obj = importlib.import_module(module)
            except ImportError:
                continue
            for part in rest:
                obj = getattr(obj, part)
            return obj
        raise ImportError(path)

    def source(function) -> str:
        """The function's source with that of the module's private helpers it calls (not hops)."""
        module, text, seen = inspect.getmodule(function), inspect.getsource(function), set()
        while True:
            helpers = {name for name in re.findall(r"\b(_\w+)\(", text) if name not in seen
                       and inspect.isfunction(getattr(module, name, None))}
            if not helpers:
                return text
            seen |= helpers
            text += "".join(inspect.getsource(getattr(module, name)) for name in sorted(helpers))

    functions = [resolve(h) for h in hops]
    assert all(callable(f) for f in functions)
    for caller, callee in zip(functions, functions[1:]):
        assert callee.__name__ in source(caller), (caller.__qualname__, callee.__name__)
    last = re.search(r"^6\. .*?\n(?=\S|\Z)", tour, flags=re.M | re.S).group(0)
    for path in re.findall(r"`(mertk\.[\w.]+)`", last):
        assert "optimizer.step()" in source(resolve(path)), path
