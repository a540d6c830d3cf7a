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
from typing import Any

import pytest

import mertk
from mertk.config import bundled_configs
from mertk.deferred import builds
from mertk.errors import PluginError
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


def _run(commands: list[list[str]], hints: bool = False, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """The report of :data:`SCRIPT` running ``commands``, and what they wrote to stderr."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(HEAVY), json.dumps(commands),
                           "hints" if hints else "-"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _no_heavy_imports(report: dict) -> None:
    assert not report["first"], "\n".join(f"{name} was imported here:\n{stack}"
                                          for name, stack in report["first"].items())


def test_config_check_of_every_bundled_config_imports_no_torch(tmp_path) -> None:
    configs = bundled_configs(mertk.load_components())
    assert "dual-atme.yaml" in configs and "resnet18.yaml" in configs
    names = sorted(configs)
    # the real-data configs name their roots by ${VARIABLE}; config check does not read them
    variables = {v for path in configs.values() for v in re.findall(r"\$\{(\w+)\}", path.read_text())}
    report, _ = _run([["config", "check", name] for name in names], env={v: str(tmp_path) for v in variables})
    _no_heavy_imports(report)
    assert report["codes"] == [0] * len(names)


#: Values config check refuses from the factories' signatures and the model's views, and the messages.
REFUSED = {
    "model.dropout=1.5": "model.dropout: input should be less than 1",
    "model.attention.reduction=0": "model.attention.reduction: input should be greater than 0",
    "preprocess.views.face.size=1": "preprocess.views.face.size: input should be greater than or equal to 2",
    "model.views=[face, eyes]": "model.views: no view 'eyes'",
    "loss.0.gamma=-1": "loss.0.gamma: input should be greater than or equal to 0",
}


def test_config_check_still_checks_ranges_and_views_without_torch() -> None:
    report, stderr = _run([["config", "check", "dual-atme.yaml", "--set", override] for override in REFUSED])
    _no_heavy_imports(report)
    assert report["codes"] == [1] * len(REFUSED) and "Traceback" not in stderr
    errors = [line.lower() for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == len(REFUSED), stderr[-3000:]
    for error, message in zip(errors, REFUSED.values()):
        assert message in error


def test_components_and_datasets_inspect_import_no_torch() -> None:
    report, _ = _run([["components"], ["components", "backbone"], ["datasets", "list"],
                      ["datasets", "inspect", "dual-atme.yaml"]], hints=True)
    _no_heavy_imports(report)
    assert report["codes"] == [0, 0, 0, 0]
    assert report["hints"] == {}


def test_each_light_factory_takes_what_its_class_takes() -> None:
    deferred = [info for info in mertk.load_components().list() if hasattr(info.factory, "builds")]
    assert {"dual-atme", "cbam", "timm", "ststnet", "linear-svm"} <= {info.name for info in deferred}
    for info in deferred:
        check_deferred_factory(info.factory)


def test_builds_passes_every_argument_by_name_with_the_signatures_defaults() -> None:
    @builds("types:SimpleNamespace")
    def thing(size: int, rate: float = 0.5, kwargs: dict | None = None, **extra: Any) -> Any:
        """A thing."""

    made = thing(3, colour="red")
    assert vars(made) == {"size": 3, "rate": 0.5, "kwargs": None, "colour": "red"}
    assert thing.builds == "types:SimpleNamespace" and thing.__doc__ == "A thing."
    with pytest.raises(PluginError, match="cannot forward \\['forward'\\]"):
        builds("types:SimpleNamespace", forward=("forward",))


def test_a_light_factory_that_differs_from_its_class_is_named() -> None:
    @builds("mertk_dual_atme.cbam:CBAM")
    def cbam(channels: int, reduction: int = 8, kernel_size: int = 3) -> Any:
        """CBAM with another default."""

    with pytest.raises(AssertionError, match="reduction"):
        check_deferred_factory(cbam)

    @builds("mertk_baselines.svm:LinearSVM")  # says nothing of fit(): would be trained, not fitted
    def svm(num_classes: int, in_channels: int, view: str = "lbp-top", C: float = 1.0,
            class_weight: str | None = "balanced", max_iter: int = 10000) -> Any:
        """An SVM."""

    with pytest.raises(AssertionError, match="fit"):
        check_deferred_factory(svm)
    forwarded = builds("mertk_baselines.svm:LinearSVM", forward=("fit",))(svm.__wrapped__)
    check_deferred_factory(forwarded)
    assert callable(forwarded.fit)
