"""history.csv, the training-curves plot and the tracker contract, with a tracker plugin that records its calls."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import mertk
from mertk.config import load_config
from mertk.engine import runner
from mertk.engine.history import HistoryFile, mean_curves
from mertk.engine.tracking import flatten_config
from mertk.engine.trainer import Trainer
from mertk.errors import ConfigError, MertkError
from mertk.testing import components_with
from mertk.trackers import require

CALLS: list[tuple] = []


class Recorder:
    """A tracker that keeps every call it gets in ``CALLS``; ``fail_in`` names a method that raises;
    ``where`` is what ``start`` says about where it tracks the run."""

    def __init__(self, label: str = "a", fail_in: str = "", where: str = "") -> None:
        self.label, self.fail_in, self.where = label, fail_in, where

    def note(self, method: str, *args) -> None:
        CALLS.append((self.label, method, *args))
        if method == self.fail_in:
            raise ConnectionError("tracking server unreachable")

    def start(self, run):
        self.note("start", run)
        return self.where or None

    def start_fold(self, index, name):
        self.note("start_fold", index)

    def log_epoch(self, index, epoch, values):
        self.note("log_epoch", index, epoch, dict(values))

    def end_fold(self, index, name, metrics):
        self.note("end_fold", index, dict(metrics))

    def finish(self, result):
        self.note("finish", result)

    def close(self, status):
        self.note("close", status)


class RecorderPlugin:
    @mertk.hookimpl
    def register_trackers(self, register):
        register("recorder", Recorder)


@pytest.fixture
def recording(tmp_path: Path, tiny_config: dict):
    """Components with the recorder tracker, and a loader of the tiny config using it."""
    TINY = tiny_config
    CALLS.clear()
    components = components_with(RecorderPlugin())

    def load(trackers, **train):
        data = {**TINY, "train": {**TINY["train"], **train},
                "output": {"export_model": False, "dir": str(tmp_path / "runs"), "trackers": trackers}}
        (tmp_path / "tiny.yaml").write_text(json.dumps(data))
        return load_config(tmp_path / "tiny.yaml", components)
    return components, load


def history_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_history_and_curves_and_every_tracker_call(recording, fake_data, tmp_path: Path) -> None:
    components, load = recording
    run_dir = runner.run_experiment(load([{"name": "recorder"}]), components, run_dir=tmp_path / "run")
    rows = history_rows(run_dir)
    assert [(r["fold"], r["epoch"]) for r in rows] == [(str(f), str(e)) for f in range(4) for e in (1, 2, 3)]
    assert list(rows[0]) == ["fold", "fold_name", "epoch", "loss", "loss/focal", "loss/similarity", "accuracy",
                             "lr", "seconds"]
    records = [json.loads((run_dir / "folds" / f"{i:03d}.json").read_text()) for i in range(4)]
    for row in rows:  # the file says what each fold's record says
        epoch = records[int(row["fold"])]["history"][int(row["epoch"]) - 1]
        assert float(row["loss"]) == pytest.approx(epoch["loss"], rel=1e-5)
        assert float(row["loss/similarity"]) == pytest.approx(epoch["terms"]["similarity"], rel=1e-5)
        assert float(row["accuracy"]) == pytest.approx(epoch["accuracy"], rel=1e-5)
        # the total is the weighted sum of the terms (focal x 1 + similarity x 0.01), per sample
        assert float(row["loss"]) == pytest.approx(float(row["loss/focal"]) + 0.01 * float(row["loss/similarity"]),
                                                   rel=1e-4)
        assert float(row["seconds"]) > 0 and row["fold_name"] == records[int(row["fold"])]["name"]
    report = (run_dir / "report.md").read_text()
    assert "](training_curves.png)" in report and (run_dir / "training_curves.png").stat().st_size > 10_000

    methods = [c[1] for c in CALLS]
    assert methods == ["start"] + ["start_fold", "log_epoch", "log_epoch", "log_epoch", "end_fold"] * 4 + [
        "finish", "close"]
    start = CALLS[0][2]
    assert start.run_dir == run_dir and not start.resumed and start.params["train.epochs"] == "3"
    assert start.params["loss.1.weight"] == "0.01" and start.params["train.optimizer.lr"] == "0.001"  # a default
    assert start.environment["device"] == "cpu"
    epoch_values = [c[4] for c in CALLS if c[1] == "log_epoch"]
    assert [v["loss"] for v in epoch_values] == pytest.approx([float(r["loss"]) for r in rows], rel=1e-5)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    result = CALLS[-2][2]
    assert result.metrics["uf1"] == metrics["overall"]["uf1"] and result.metrics["beta/uar"] == metrics["per_group"]["beta"]["uar"]
    assert result.curves["loss"] == pytest.approx(mean_curves(records)["loss"]) and len(result.curves["loss"]) == 3
    assert set(result.images) == {"confusion_matrix", "per_class", "training_curves"}
    assert {p.name for p in result.files} >= {"report.md", "metrics.json", "history.csv", "confusion_matrix.png"}
    fold_metrics = [c[3] for c in CALLS if c[1] == "end_fold"]
    correct = [sum(a == b for a, b in zip(r["y_true"], r["y_pred"])) / len(r["y_true"]) for r in records]
    assert [m["test_accuracy"] for m in fold_metrics] == pytest.approx(correct)
    assert CALLS[-1][2] == "finished"


def test_a_failing_tracker_warns_once_and_the_run_goes_on(recording, fake_data, tmp_path: Path) -> None:
    components, load = recording
    loaded = load([{"name": "recorder", "label": "bad", "fail_in": "log_epoch"}, {"name": "recorder", "label": "good"}])
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 24
    bad = [c[1] for c in CALLS if c[0] == "bad"]
    assert bad == ["start", "start_fold", "log_epoch", "close"]  # dropped after its first failure, then closed
    assert [c[1] for c in CALLS if c[0] == "good"].count("log_epoch") == 12
    warnings = [line for line in (run_dir / "run.log").read_text().splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "'recorder' failed in log_epoch" in warnings[0]
    assert "ConnectionError: tracking server unreachable" in warnings[0]


def test_resume_inside_a_fold_repeats_no_epoch(recording, fake_data, tmp_path: Path, monkeypatch) -> None:
    """A run killed in fold 3's third epoch: history.csv keeps what was done; the resumed run
    retrains fold 3 only, replacing its two stale rows, and trackers are told it starts again."""
    components, load = recording
    real_epoch = Trainer.epoch
    epochs = []

    def killed_in_the_ninth_epoch(self):
        epochs.append(1)
        if len(epochs) == 9:
            raise KeyboardInterrupt("killed")
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "epoch", killed_in_the_ninth_epoch)
    loaded = load(["recorder"])
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    run_dir = tmp_path / "run"
    assert [(r["fold"], r["epoch"]) for r in history_rows(run_dir)][-3:] == [("1", "3"), ("2", "1"), ("2", "2")]
    assert CALLS[-1] == ("a", "close", "interrupted")
    monkeypatch.setattr(Trainer, "epoch", real_epoch)

    CALLS.clear()
    runner.run_experiment(load_config(run_dir / "config.yaml", components), components, run_dir=run_dir, resume=True)
    rows = history_rows(run_dir)
    assert [(r["fold"], r["epoch"]) for r in rows] == [(str(f), str(e)) for f in range(4) for e in (1, 2, 3)]
    records = [json.loads((run_dir / "folds" / f"{i:03d}.json").read_text()) for i in range(4)]
    assert [float(r["loss"]) for r in rows if r["fold"] == "2"] == pytest.approx(
        [h["loss"] for h in records[2]["history"]], rel=1e-5)  # the rows of the retrained fold
    assert CALLS[0][1] == "start" and CALLS[0][2].resumed
    assert [(c[1], c[2]) for c in CALLS if c[1] in ("start_fold", "end_fold")] == [
        ("start_fold", 2), ("end_fold", 2), ("start_fold", 3), ("end_fold", 3)]
    assert [c[1] for c in CALLS[-2:]] == ["finish", "close"]


def test_history_file_replaces_a_restarted_fold(tmp_path: Path) -> None:
    history = HistoryFile(tmp_path / "history.csv")
    for fold, epochs in ((0, 2), (1, 1)):
        for epoch in range(1, epochs + 1):
            history.append(fold, f"s{fold}", epoch, {"loss": 1.0 / epoch, "accuracy": 0.5})
    history.start_fold(1)
    history.append(1, "s1", 1, {"loss": 0.25, "loss/extra": 2.0, "accuracy": 0.75})  # a new column
    rows = history.rows()
    assert [(r["fold"], r["epoch"], r["loss"]) for r in rows] == [("0", "1", "1"), ("0", "2", "0.5"), ("1", "1", "0.25")]
    assert rows[-1]["loss/extra"] == "2" and rows[0]["loss/extra"] == ""


def test_config_errors_name_the_tracker_key(recording, fake_data) -> None:
    _, load = recording
    with pytest.raises(ConfigError, match=r"output.trackers.0.name: unknown tracker 'recordr' \(did you mean 'recorder'"):
        load(["recordr"])
    with pytest.raises(ConfigError, match=r"output.trackers.0.lable: unexpected argument"):
        load([{"name": "recorder", "lable": "x"}])


def test_a_missing_extra_names_the_install_command() -> None:
    with pytest.raises(MertkError, match=r"pip install 'mertk\[mlflow\]', or remove 'mlflow' from output.trackers"):
        require("mertk_no_such_package", "mlflow")


def test_flatten_config_numbers_list_items() -> None:
    assert flatten_config({"a": {"b": 1, "c": [{"name": "x"}, "y"]}, "d": None, "e": [], "f": "text"}) == {
        "a.b": "1", "a.c.0.name": "x", "a.c.1": "y", "d": "null", "e": "[]", "f": "text"}


def test_importing_mertk_and_the_engine_loads_no_tracker_package() -> None:
    """The trackers import MLflow and TensorBoard only when a run uses them."""
    import subprocess
    import sys

    code = ("import sys, mertk, mertk.engine.runner; mertk.load_components(); "
            "print(sorted(m for m in ('mlflow', 'tensorboard', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_each_tracker_says_once_where_it_tracks_the_run(recording, fake_data, tmp_path: Path, capsys) -> None:
    components, load = recording
    loaded = load([{"name": "recorder", "label": "a", "where": "recorder a: store X; open it with: x-ui X"},
                   {"name": "recorder", "label": "b"}], epochs=1)
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    printed = capsys.readouterr()
    assert (printed.out + printed.err).count("recorder a: store X; open it with: x-ui X") == 1
    assert (run_dir / "run.log").read_text().count("recorder a: store X; open it with: x-ui X\n") == 1


def test_a_tracker_that_cannot_start_stops_the_run_before_any_training(recording, fake_data, tmp_path: Path,
                                                                       monkeypatch) -> None:
    """The user asked for tracking: a tracker whose start fails is an error naming it, before any
    fold trains (not a warning and an untracked run); the trackers started before it are closed,
    those after it never start. Once it works, the resume the message names runs the whole run."""
    components, load = recording
    loaded = load([{"name": "recorder", "label": "first"}, {"name": "recorder", "label": "bad", "fail_in": "start"},
                   {"name": "recorder", "label": "never"}], epochs=1)
    run_dir = tmp_path / "run"
    with pytest.raises(MertkError) as exc:
        runner.run_experiment(loaded, components, run_dir=run_dir)
    assert str(exc.value) == (
        "tracker 'recorder' cannot start: ConnectionError: tracking server unreachable. Fix: correct its arguments "
        "in output.trackers, or remove 'recorder' from output.trackers. Nothing was trained: once the tracker "
        f"works, `mertk run --resume {run_dir}` starts this run")
    assert CALLS == [("first", "start", CALLS[0][2]), ("bad", "start", CALLS[0][2]), ("first", "close", "failed"),
                     ("bad", "close", "failed")]
    assert not (run_dir / "folds").exists() and not (run_dir / "history.csv").exists()
    assert (run_dir / "run.log").read_text().splitlines()[-1] == f"stopped: {exc.value}"

    CALLS.clear()
    monkeypatch.setattr(Recorder, "note", lambda self, method, *args: CALLS.append((self.label, method)))
    runner.run_experiment(load_config(run_dir / "config.yaml", components), components, run_dir=run_dir, resume=True)
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 24
    assert CALLS.count(("bad", "end_fold")) == 4 and CALLS[-1] == ("never", "close")


def test_an_interrupt_while_trackers_start_ends_the_started_ones_as_interrupted(recording, fake_data, tmp_path: Path,
                                                                             monkeypatch) -> None:
    components, load = recording
    loaded = load([{"name": "recorder", "label": "first"}, {"name": "recorder", "label": "slow"},
                   {"name": "recorder", "label": "never"}])
    real = Recorder.note

    def interrupted_in_slow_start(self, method, *args):
        real(self, method, *args)
        if (self.label, method) == ("slow", "start"):
            raise KeyboardInterrupt("Ctrl-C")

    monkeypatch.setattr(Recorder, "note", interrupted_in_slow_start)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    assert [c[:3] for c in CALLS if c[1] == "close"] == [("first", "close", "interrupted"),
                                                         ("slow", "close", "interrupted")]
    assert not any(c[0] == "never" for c in CALLS) and not (tmp_path / "run" / "folds").exists()
