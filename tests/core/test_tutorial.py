"""The plugin tutorial's files and commands work exactly as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "plugins" / "tutorial.md"
BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.S | re.M)


def tutorial_files() -> dict[str, str]:
    return dict(BLOCK.findall(TUTORIAL.read_text()))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("tutorial")
    for name, text in tutorial_files().items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    site = work / "site"
    # `pip install -e ./mertk-se`, into a private folder instead of the test environment
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--target", str(site), str(work / "mertk-se")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work


def _run(args: list[str], work: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(work / "site"), **extra_env}
    env.pop("MERTK_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run([sys.executable, *args], cwd=work, capture_output=True, text=True, env=env)


def test_tutorial_has_every_file():
    assert set(tutorial_files()) == {
        "mertk-se/pyproject.toml", "mertk-se/mertk_se/__init__.py", "mertk-se/mertk_se/attention.py",
        "mertk-se/mertk_se/plugin.py", "mertk-se/tests/test_se.py", "my-se.yaml", "mertk_joblib.py"}


def test_plugin_tests_pass(workdir):
    proc = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "mertk-se/tests"], workdir)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "3 passed" in proc.stdout


def test_mertk_plugins_lists_it(workdir):
    proc = _run(["-m", "mertk", "plugins"], workdir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    i = lines.index("se  (mertk-se 0.1.0)")
    assert lines[i + 1].split() == ["attention", "squeeze-excite"]


def test_config_using_it_checks(workdir):
    proc = _run(["-m", "mertk", "config", "check", "my-se.yaml"], workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("my-se.yaml: OK")
    bad = workdir / "bad-se.yaml"
    bad.write_text((workdir / "my-se.yaml").read_text().replace("reduction", "reductoin"))
    proc = _run(["-m", "mertk", "config", "check", "bad-se.yaml"], workdir)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("Error: bad-se.yaml: model.attention.reductoin: unexpected argument "
                                   "(did you mean 'reduction'?)")


@pytest.mark.slow
def test_the_joblib_executor_runs_folds_as_local_does(workdir, flow_manifest, tmp_path):
    """Section 8's executor, loaded with --plugin, runs a tiny LOSO whose folds equal those of `local`."""
    import json

    config = tmp_path / "tiny.yaml"
    config.write_text(f"name: tiny\ndataset: {{name: manifest, path: {flow_manifest}}}\nmodel: ststnet\n"
                      "preprocess: {cache: false, workers: 1}\ntrain: {epochs: 2, batch_size: 8, threads: 1}\n"
                      "output: {export_model: false}\n")
    proc = _run(["-m", "mertk", "--plugin", "mertk_joblib.py", "components", "executor"], workdir)
    assert proc.returncode == 0 and "joblib" in proc.stdout, proc.stderr
    runs = {}
    for name, executor in [("joblib", "{name: joblib, n_jobs: 2}"), ("local", "{name: local, workers: 1}")]:
        proc = _run(["-m", "mertk", "--plugin", "mertk_joblib.py", "run", str(config), "--run-dir",
                     str(tmp_path / name), "--set", f"executor={executor}"], workdir,
                    OMP_NUM_THREADS="1")  # one thread in every process: the same arithmetic in both runs
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = [json.loads(p.read_text()) for p in sorted((tmp_path / name / "folds").glob("*.json"))]
    assert "executor joblib: 2 worker processes" in (tmp_path / "joblib" / "run.log").read_text()
    assert len(runs["local"]) == 4
    assert [(r["y_pred"], r["probs"]) for r in runs["joblib"]] == [(r["y_pred"], r["probs"]) for r in runs["local"]]
