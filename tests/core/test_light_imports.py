"""`mertk config check`, `mertk components` and `mertk datasets inspect` build no model, so they
import no torch, timm, kornia, Ray or MLflow: each runs in a fresh interpreter that reports the
first import of any of them with the stack that made it (issue 26, item 3)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import mertk
from mertk.config import bundled_configs
from mertk.testing import check_deferred_factory

HEAVY = ("torch", "timm", "kornia", "ray", "mlflow")

#: Runs ``mertk`` commands in this interpreter; prints the exit codes and the heavy imports seen.
SCRIPT = textwrap.dedent('''
    import json, sys, traceback, typing, inspect
    HEAVY = set(sys.argv[1].split(","))
    first = {}

    class Watch:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in HEAVY and top not in first:
                first[top] = "".join(traceback.format_stack(limit=14)[:-1])
            return None

    sys.meta_path.insert(0, Watch())
    from mertk.cli import main

    codes = []
    for args in json.loads(sys.argv[2]):
        try:
            main(args)
            codes.append(0)
        except SystemExit as exc:
            codes.append(exc.code)
    hints = {}
    if sys.argv[3] == "hints":  # every component's annotations resolve (else its types go unchecked)
        import mertk
        for info in mertk.load_components().list():
            target = info.factory.__init__ if inspect.isclass(info.factory) else info.factory
            try:
                typing.get_type_hints(target, include_extras=True)
            except Exception as exc:
                hints[f"{info.kind} {info.name}"] = repr(exc)
    print(json.dumps({"codes": codes, "first": first, "hints": hints}))
''')


def _run(commands: list[list[str]], hints: bool = False, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(HEAVY), json.dumps(commands),
                           "hints" if hints else "-"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _no_heavy_imports(report: dict) -> None:
    assert not report["first"], "\n".join(f"{name} was imported here:\n{stack}"
                                          for name, stack in report["first"].items())


def test_config_check_of_every_bundled_config_imports_no_torch(tmp_path) -> None:
    configs = bundled_configs(mertk.load_components())
    assert "dual-atme.yaml" in configs and "resnet18.yaml" in configs
    names = sorted(configs)
    # the real-data configs name their roots by ${VARIABLE}; config check does not read them
    variables = {v for path in configs.values() for v in re.findall(r"\$\{(\w+)\}", path.read_text())}
    report = _run([["config", "check", name] for name in names], env={v: str(tmp_path) for v in variables})
    _no_heavy_imports(report)
    assert report["codes"] == [0] * len(names)


@pytest.mark.parametrize("override, message", [
    ("model.dropout=1.5", "model.dropout: input should be less than 1"),
    ("model.attention.reduction=0", "model.attention.reduction: input should be greater than 0"),
    ("preprocess.views.face.size=1", "preprocess.views.face.size: input should be greater than or equal to 2"),
    ("model.views=[face, eyes]", "model.views: no view 'eyes'"),
])
def test_config_check_still_checks_ranges_and_views_without_torch(override: str, message: str) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mertk", "config", "check", "dual-atme.yaml",
                           "--set", override], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr.lower(), proc.stderr[-2000:]
    imported = {line.rpartition("|")[2].strip() for line in proc.stderr.splitlines() if line.startswith("import time")}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_components_and_datasets_inspect_import_no_torch() -> None:
    report = _run([["components"], ["components", "backbone"], ["datasets", "list"],
                   ["datasets", "inspect", "dual-atme.yaml"]], hints=True)
    _no_heavy_imports(report)
    assert report["codes"] == [0, 0, 0, 0]
    assert report["hints"] == {}


def test_each_light_factory_takes_what_its_class_takes() -> None:
    deferred = [info for info in mertk.load_components().list() if hasattr(info.factory, "builds")]
    assert {"dual-atme", "cbam", "timm", "ststnet", "linear-svm"} <= {info.name for info in deferred}
    for info in deferred:
        check_deferred_factory(info.factory)
