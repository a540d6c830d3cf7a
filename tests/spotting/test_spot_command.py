"""``mertk spot CONFIG``: the run folder, metrics.json, resume (only the missing recordings), a changed
recipe refused, the local pool and a real local Ray giving the same intervals as this process, the
learned spotter trained per fold and resumed, config errors.

The recordings are the long demo's smallest: 2 subjects x 10 s at 10 fps, spotted with a fast flow on
a 64 px face (a run takes seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mertk.cli import build_cli

SPOTTER = {"name": "strain-peaks", "flow": {"name": "dis", "preset": "ultrafast"}, "size": 64, "redetect": 10.0}


def invoke(args: list[str]):
    return CliRunner().invoke(build_cli(args), args)


def write_config(folder: Path, demo: Path, **changes) -> Path:
    config = {"name": "spot-test", "dataset": {"name": "long-demo", "root": str(demo), "videos": 2, "seconds": 10,
                                               "fps": 10},
              "spotter": SPOTTER, "protocol": "loso", "executor": {"name": "local", "workers": 1},
              "output": {"dir": str(folder / "runs")}, **changes}
    path = folder / "spot.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def spotted(tmp_path_factory):
    """A finished spotting run in this process: (run folder, config file)."""
    base = tmp_path_factory.mktemp("spot")
    config = write_config(base, base / "demo")
    result = invoke(["spot", str(config), "--run-dir", str(base / "run")])
    assert result.exit_code == 0, result.output
    return base / "run", config


def _intervals(run: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((run / "videos").glob("*.csv"))}


def test_run_folder_and_metrics(spotted):
    run, _ = spotted
    for name in ("config.yaml", "fingerprint.json", "problems.csv", "metrics.json", "report.md", "run.log"):
        assert (run / name).is_file(), name
    assert not (run / "run.lock").exists()
    videos = _intervals(run)
    assert list(videos) == ["long-demo__sub01__sub01_1.csv", "long-demo__sub02__sub02_1.csv"]
    assert all(text.startswith("onset,offset,apex,type,score") for text in videos.values())
    assert len(list((run / "timelines").glob("*.png"))) == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol"] == "loso" and metrics["trained_per_fold"] is False
    for t in ("micro", "macro", "overall"):
        assert set(metrics[t]) >= {"tp", "fp", "fn", "precision", "recall", "f1"}
    assert list(metrics["per_subject"]) == ["long-demo/sub01", "long-demo/sub02"]
    assert list(metrics["per_dataset"]) == ["long-demo"]
    overall = metrics["overall"]
    assert overall["tp"] == metrics["micro"]["tp"] + metrics["macro"]["tp"]
    detections = sum(len(text.strip().splitlines()) - 1 for text in videos.values())
    assert overall["detections"] == detections
    truths = sum(s["overall"]["truths"] for s in metrics["per_subject"].values())
    assert overall["truths"] == truths > 0
    report = (run / "report.md").read_text()
    assert "timelines/long-demo__sub01__sub01_1.png" in report and "| all | micro |" in report
    assert "has no fit (training-free)" in (run / "run.log").read_text()


def test_resume_spots_only_the_missing_recording_and_refuses_a_changed_recipe(spotted, tmp_path):
    original, config = spotted
    run = tmp_path / "run"
    shutil.copytree(original, run)
    before = _intervals(run)
    kept = run / "videos" / "long-demo__sub01__sub01_1.csv"
    kept_mtime = kept.stat().st_mtime_ns
    (run / "videos" / "long-demo__sub02__sub02_1.csv").unlink()
    (run / "metrics.json").unlink()
    result = invoke(["spot", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    log = (run / "run.log").read_text()
    assert "resuming: 1 recordings already spotted, 1 to go" in log
    assert log.count("recording 2/2 long-demo/sub02/sub02_1") == 2 and "recording 2/2 long-demo/sub01" not in log
    assert kept.stat().st_mtime_ns == kept_mtime
    assert _intervals(run) == before
    assert json.loads((run / "metrics.json").read_text()) == json.loads((original / "metrics.json").read_text())

    changed = invoke(["spot", "--resume", str(run), "--set", "spotter.high=7"])
    assert changed.exit_code == 1
    assert "cannot resume" in changed.output and "spotter.high" in changed.output and "Traceback" not in changed.output
    assert "finished recordings would be mixed" in changed.output and "only executor, output may change" in changed.output
    assert not (run / "run.lock").exists()


def test_a_run_folder_of_mertk_run_is_not_resumed_as_spotting(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"dataset": "demo", "model": "dual-atme"}))
    result = invoke(["spot", "--resume", str(tmp_path)])
    assert result.exit_code == 1 and "mertk run --resume" in result.output


def test_local_pool_gives_the_same_intervals(spotted, tmp_path):
    original, config = spotted
    result = invoke(["spot", str(config), "--run-dir", str(tmp_path / "pool"), "--set", "executor.workers=2"])
    assert result.exit_code == 0, result.output
    assert "2 worker processes" in (tmp_path / "pool" / "run.log").read_text()
    assert _intervals(tmp_path / "pool") == _intervals(original)


def test_a_real_local_ray_gives_the_same_intervals(spotted, ray_local, tmp_path):
    original, config = spotted
    result = invoke(["spot", str(config), "--run-dir", str(tmp_path / "ray"), "--set", "executor={name: ray, num_cpus: 1}"])
    assert result.exit_code == 0, result.output
    assert "executor: ray" in (tmp_path / "ray" / "run.log").read_text()
    assert _intervals(tmp_path / "ray") == _intervals(original)
    assert json.loads((tmp_path / "ray" / "metrics.json").read_text()) == \
        json.loads((original / "metrics.json").read_text())


LEARNED = {"name": "flow-windows", "flow": {"name": "dis", "preset": "ultrafast"}, "size": 48, "input_size": 16,
           "redetect": 10.0, "epochs": 3, "positives": 100, "negatives": 200}


def test_the_learned_spotter_is_trained_per_fold_and_resumes_on_ray_to_the_same_intervals(spotted, ray_local,
                                                                                           tmp_path):
    config = write_config(tmp_path, _demo_root(spotted), spotter=LEARNED)
    run = tmp_path / "run"
    result = invoke(["spot", str(config), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["trained_per_fold"] is True and metrics["spotter"] == "flow-windows"
    assert "flow-windows is trained per fold on the other subjects' recordings" in (run / "run.log").read_text()
    before = _intervals(run)
    assert all(len(text.splitlines()) > 1 for text in before.values())  # each recording has detections
    (run / "videos" / "long-demo__sub02__sub02_1.csv").unlink()
    # the resumed fold is trained again, from the recordings, in a Ray worker process (no cache there)
    result = invoke(["spot", "--resume", str(run), "--set", "executor={name: ray, num_cpus: 1}"])
    assert result.exit_code == 0, result.output
    assert "executor: ray" in (run / "run.log").read_text()
    assert _intervals(run) == before
    assert json.loads((run / "metrics.json").read_text()) == metrics


def test_config_errors_name_the_key(tmp_path):
    config = write_config(tmp_path, tmp_path / "demo", spotter={"name": "strain-peeks"})
    result = invoke(["spot", str(config)])
    assert result.exit_code == 1 and "spotter" in result.output and "strain-peaks" in result.output
    assert "Traceback" not in result.output
    config = write_config(tmp_path, tmp_path / "demo", protocol="kfold")
    result = invoke(["config", "check", str(config)])
    assert result.exit_code == 1 and "protocol" in result.output
    run_config = tmp_path / "run.yaml"
    run_config.write_text(yaml.safe_dump({"dataset": "demo", "model": "dual-atme"}))
    result = invoke(["spot", str(run_config)])
    assert result.exit_code == 1 and "not a spotting config" in result.output
    result = invoke(["run", str(write_config(tmp_path, tmp_path / "demo"))])
    assert result.exit_code == 1 and "mertk spot" in result.output


@pytest.mark.parametrize("name", ["spotting-demo.yaml", "spotting-demo-learned.yaml", "spotting-casme-squared.yaml",
                                  "spotting-samm-lv.yaml"])
def test_bundled_configs_check(name, monkeypatch):
    monkeypatch.setenv("CASME_SQUARED_ROOT", "/data/casme-squared")
    monkeypatch.setenv("SAMM_LV_ROOT", "/data/samm-lv")
    result = invoke(["config", "check", name])
    assert result.exit_code == 0, result.output


# A plugin with two toy spotters: one that learns (fit), one that fails on a subject's recording.
TOY_SPOTTERS = '''
import numpy as np

import mertk
from mertk.api import Interval, SpotResult
from mertk.errors import DataError


class Learner:
    """Remembers the subjects it was fitted on; refuses to spot a recording of one of them."""

    def __init__(self):
        self.subjects = None

    def fit(self, videos):
        self.subjects = sorted({v.subject for v in videos})

    def spot(self, video, frames):
        n = sum(1 for _ in frames)
        assert self.subjects is not None and video.subject not in self.subjects, (video.subject, self.subjects)
        return SpotResult((Interval(0, 4, "micro", score=float(len(self.subjects))),),
                          {"trained_on": np.full(n, len(self.subjects), np.float32)})


class Failing:
    def spot(self, video, frames):
        n = sum(1 for _ in frames)
        if video.subject.endswith("sub02"):
            raise DataError(f"{video.id}: no face found in any of its {n} frames. Fix: check the recording")
        return SpotResult((), {"s": np.zeros(n, np.float32)})


@mertk.hookimpl
def register_spotters(register):
    register("toy-learner", Learner)
    register("toy-failing", Failing)
'''


@pytest.fixture
def toy_plugin(tmp_path) -> Path:
    path = tmp_path / "toy_spotters.py"
    path.write_text(TOY_SPOTTERS)
    return path


def _demo_root(spotted) -> Path:
    return Path(yaml.safe_load(spotted[1].read_text())["dataset"]["root"])


def test_a_spotter_that_fits_is_trained_on_the_other_subjects_per_fold(spotted, toy_plugin, tmp_path):
    config = write_config(tmp_path, _demo_root(spotted), spotter="toy-learner")
    result = invoke(["--plugin", str(toy_plugin), "spot", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    assert json.loads((run / "metrics.json").read_text())["trained_per_fold"] is True
    assert "trained per fold on the other subjects' recordings" in (run / "run.log").read_text()
    for text in _intervals(run).values():  # each fold's spotter saw the one other subject, never its own
        assert text.splitlines()[1] == "0,4,,micro,1"


def test_a_failing_recording_stops_the_run_and_keeps_the_others(spotted, toy_plugin, tmp_path):
    config = write_config(tmp_path, _demo_root(spotted), spotter="toy-failing")
    result = invoke(["--plugin", str(toy_plugin), "spot", str(config), "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "recording long-demo/sub02/sub02_1 failed: long-demo/sub02/sub02_1: no face found" in result.output
    assert f"mertk spot --resume {tmp_path / 'run'}" in result.output
    assert list(_intervals(tmp_path / "run")) == ["long-demo__sub01__sub01_1.csv"]
    assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / "run.lock").exists()
