"""run_experiment on synthetic prepared data: the run folder, resuming, swapping parts by config."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mertk.config import load_config
from mertk.engine import fold as fold_module
from mertk.engine import runner
from mertk.engine.fold import train_folds
from mertk.errors import MertkError

from .conftest import context_of, crash_on_fold

FILES = ("config.yaml", "environment.json", "problems.csv", "predictions.csv", "metrics.json", "report.md",
         "confusion_matrix.png", "per_class.png", "run.log")


def test_run_writes_a_complete_run_folder(make_config, fake_data, components, tmp_path: Path, capsys) -> None:
    loaded = make_config({"output": {"checkpoints": True, "export_model": True, "dir": str(tmp_path / "runs")}})
    run_dir = runner.run_experiment(loaded, components)
    assert run_dir.parent == tmp_path / "runs" and run_dir.name.startswith("tiny-")
    for name in FILES:
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "folds").iterdir()) == ["000.json", "001.json", "002.json", "003.json"]
    assert len(list((run_dir / "checkpoints").glob("fold-*.safetensors"))) == 4
    assert (run_dir / "model" / "weights.safetensors").is_file()
    rows = list(csv.DictReader(open(run_dir / "predictions.csv")))
    assert sorted(r["sample"] for r in rows) == sorted(s.id for s in fake_data.samples)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 24 and set(metrics["per_group"]) == {"alpha", "beta"}
    assert metrics["model_selection"] == "last epoch"
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["device"] == "cpu" and environment["arithmetic"] == "fp32"  # what train.precision became
    report = (run_dir / "report.md").read_text()
    assert "| overall |" in report and "| alpha |" in report and "last training epoch" in report
    # the saved config reloads to the same run config
    again = load_config(run_dir / "config.yaml", components)
    assert again.config == loaded.config
    out = capsys.readouterr().out
    assert str(run_dir) in out and "| overall |" in out


def test_interrupted_run_resumes_without_retraining_finished_folds(make_config, fake_data, components,
                                                                   tmp_path: Path, monkeypatch) -> None:
    loaded = make_config()
    run_dir = tmp_path / "run"
    calls = crash_on_fold(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(loaded, components, run_dir=run_dir)
    assert not (run_dir / "metrics.json").exists()
    finished = {p.name: p.read_text() for p in (run_dir / "folds").iterdir()}
    assert sorted(finished) == ["000.json", "001.json"]
    assert len(list(csv.DictReader(open(run_dir / "predictions.csv")))) == 12

    with pytest.raises(MertkError, match="not empty"):
        runner.run_experiment(loaded, components, run_dir=run_dir)

    calls.clear()
    resumed = load_config(run_dir / "config.yaml", components)
    assert runner.run_experiment(resumed, components, run_dir=run_dir, resume=True) == run_dir
    assert len(calls) == 2 and all("fold 3/4" in c or "fold 4/4" in c for c in calls)
    for name, text in finished.items():
        assert (run_dir / "folds" / name).read_text() == text  # kept as they were
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 24
    assert len(list(csv.DictReader(open(run_dir / "predictions.csv")))) == 24


def test_resume_refuses_folds_of_other_data(make_config, fake_data, components, tmp_path: Path) -> None:
    loaded = make_config()
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    fake_data.samples.reverse()  # the folds now test other samples
    with pytest.raises(MertkError, match="samples: the same ones in another order"):
        runner.run_experiment(loaded, components, run_dir=run_dir, resume=True)
    (run_dir / "fingerprint.json").unlink()  # a run folder made before fingerprints: the folds are still checked
    with pytest.raises(MertkError, match="tested other samples"):
        runner.run_experiment(loaded, components, run_dir=run_dir, resume=True)


@pytest.mark.parametrize("override", [
    "model.attention=se",                 # another attention
    "model.attention=null",               # no attention
    "loss.0.name=cross-entropy",          # CE instead of focal
    "loss.0.name=weighted-cross-entropy",
    "train.optimizer.name=sgd",
])
def test_one_line_changes_run(make_config, fake_data, components, tmp_path: Path, override: str) -> None:
    loaded = make_config({"train": {"epochs": 1, "batch_size": 8}, "protocol": {"name": "kfold", "k": 2}},
                         overrides=(override,))
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 24


def test_a_fold_runs_alone_as_it_runs_in_the_experiment(make_config, fake_data, components, tmp_path: Path) -> None:
    """train_folds depends only on its context and the fold's number: fold 2 run by itself, after no other fold, gives the
    record the whole experiment saved for it (what lets an executor run folds anywhere)."""
    import torch

    from mertk.engine.trainer import normalize_views

    loaded = make_config()
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    saved = json.loads((run_dir / "folds" / "002.json").read_text())
    folds = components.build("protocol", loaded.config.protocol).split(fake_data.samples)
    inputs = normalize_views(fake_data.views, 0.5, 0.5, torch.device("cpu"))
    labels = torch.tensor([s.label for s in fake_data.samples])
    (_, record), = train_folds(context_of(loaded, components, fake_data, inputs, labels, folds), [2])
    assert record["name"] == saved["name"] and record["test_ids"] == saved["test_ids"]
    assert record["y_true"] == saved["y_true"]
    probs, expected = torch.tensor(record["probs"]), torch.tensor(saved["probs"])
    assert torch.allclose(probs, expected, atol=1e-5)
    # the same predictions, except where two classes tie within that tolerance (either may win)
    picked = expected.gather(1, torch.tensor(record["y_pred"])[:, None])[:, 0]
    assert (picked >= expected.max(1).values - 1e-5).all()


def test_run_log_says_how_many_threads_and_why(make_config, fake_data, components, tmp_path: Path,
                                              monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run_dir = runner.run_experiment(make_config({"train": {"epochs": 1, "batch_size": 8}}), components,
                                    run_dir=tmp_path / "run")
    first = (run_dir / "run.log").read_text().splitlines()[0]
    assert "(device cpu, 1 threads: OMP_NUM_THREADS=1; fp32; executor local: this process)" in first
    environment = json.loads((run_dir / "environment.json").read_text())
    assert environment["threads"] == 1 and environment["threads_reason"] == "OMP_NUM_THREADS=1"


def _manifest(tmp_path: Path, rows: list[str]) -> dict:
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(["sample,subject,dataset,label,frames,onset,apex", *rows]) + "\n")
    return {"dataset": {"name": "manifest", "path": str(path)}}


def test_bad_data_stops_with_every_problem_in_run_log_and_problems_csv(make_config, components,
                                                                        tmp_path: Path) -> None:
    loaded = make_config(_manifest(tmp_path, ["a,s1,d,positive,gone/a,1,3", "b,s2,d,negative,gone/b,1,3"]))
    run_dir = tmp_path / "run"
    with pytest.raises(MertkError) as exc:
        runner.run_experiment(loaded, components, run_dir=run_dir)
    assert str(exc.value).startswith("2 sample(s) cannot be used")
    log = (run_dir / "run.log").read_text()
    assert "stopped: 2 sample(s) cannot be used" in log and "[d/s1/a]" in log and "[d/s2/b]" in log
    rows = list(csv.DictReader((run_dir / "problems.csv").read_text().splitlines()))
    assert [r["sample"] for r in rows] == ["d/s1/a", "d/s2/b"] and all(r["fatal"] == "True" for r in rows)


def test_no_usable_samples_says_why(make_config, components, tmp_path: Path) -> None:
    loaded = make_config({**_manifest(tmp_path, ["a,s1,d,positive,gone/a,1,3"]), "on_error": "skip"})
    with pytest.raises(MertkError, match=r"no usable samples; all 1 were skipped for the problems listed in .*"
                                         r"problems\.csv"):
        runner.run_experiment(loaded, components, run_dir=tmp_path / "skipped")
    loaded = make_config({**_manifest(tmp_path, []), "on_error": "skip"})
    run_dir = tmp_path / "empty"
    with pytest.raises(MertkError, match=r"no usable samples; the dataset lists no samples\. Fix: check the "
                                         r"dataset's arguments"):
        runner.run_experiment(loaded, components, run_dir=run_dir)
    assert "stopped: " in (run_dir / "run.log").read_text()
    (warning,) = list(csv.DictReader((run_dir / "problems.csv").read_text().splitlines()))
    assert warning["fatal"] == "False" and "lists no samples" in warning["message"]


def test_redirected_stderr_gets_one_line_per_fold(make_config, fake_data, components, tmp_path: Path,
                                                  capsys) -> None:
    """stderr captured (not a terminal), as in a batch job's log: the fold lines of the run log and
    no progress-bar redraws."""
    import time

    from mertk.progress import LOG_INTERVAL

    start = time.monotonic()
    runner.run_experiment(make_config({"train": {"epochs": 6, "batch_size": 8}}), components,
                          run_dir=tmp_path / "run")
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert "\r" not in err
    fold_lines = [line for line in err.splitlines() if line.startswith("fold ") and "correct" in line]
    assert len(fold_lines) == 4
    # a progress line only when a bar has run 30 s since its start or its last line (a slow machine)
    bar_lines = [line for line in err.splitlines() if "epoch" in line and "correct" not in line]
    assert len(bar_lines) <= elapsed / LOG_INTERVAL


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_run_folder_files_get_the_mode_the_umask_gives(make_config, fake_data, components, tmp_path: Path,
                                                       mask: int) -> None:
    """Every file and folder of a run (the fold records, the CSVs, the plots, the checkpoints, the
    exported model/) is readable by whom the umask lets read it, as files written by open() are."""
    import os
    import stat

    loaded = make_config({"train": {"epochs": 1, "batch_size": 8},
                          "output": {"checkpoints": True, "export_model": True, "dir": str(tmp_path / "runs")}})
    old = os.umask(mask)
    try:
        run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    finally:
        os.umask(old)
    paths = [run_dir, *run_dir.rglob("*")]
    assert {"weights.safetensors", "model.json", "000.json", "fold-000.safetensors", "predictions.csv",
            "config.yaml", "metrics.json", "per_class.png"} <= {p.name for p in paths}
    wrong = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (0o777 if p.is_dir() else 0o666) & ~mask}
    assert not wrong


@pytest.mark.parametrize("damage", [lambda data: data[: len(data) // 2], lambda data: b"{}", lambda data: b"\xff\x00"],
                         ids=["truncated", "fields-missing", "binary"])
def test_resume_retrains_a_fold_whose_file_is_damaged_and_says_so(make_config, fake_data, components,
                                                                 tmp_path: Path, monkeypatch, capsys, damage) -> None:
    """A cut-short or corrupt folds/NNN.json is named on screen and in run.log, set aside, and its fold
    trained again (not a JSONDecodeError traceback); the other folds are kept."""
    loaded = make_config({"train": {"epochs": 1, "batch_size": 8}})
    run_dir = runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    damaged = run_dir / "folds" / "002.json"
    original = damaged.read_text()
    damaged.write_bytes(damage(original.encode()))
    kept = {p.name: p.read_text() for p in (run_dir / "folds").glob("*.json") if p.name != "002.json"}
    real, calls = fold_module.train_folds, []

    def counting(ctx, indices):
        calls.extend(f"fold {i + 1}/{len(ctx.folds)}" for i in indices)
        return real(ctx, indices)

    monkeypatch.setattr(fold_module, "train_folds", counting)
    capsys.readouterr()
    runner.run_experiment(load_config(run_dir / "config.yaml", components), components, run_dir=run_dir, resume=True)
    assert len(calls) == 1 and calls[0].startswith("fold 3/4")
    line = f"{damaged}: damaged"
    assert line in (run_dir / "run.log").read_text() and line in capsys.readouterr().err
    assert "fold 3 " in (run_dir / "run.log").read_text().split(line)[1].splitlines()[0]
    assert json.loads(damaged.read_text())["test_ids"] == json.loads(original)["test_ids"]  # whole again
    assert (run_dir / "folds" / "002.json.damaged").is_file()
    assert {p: (run_dir / "folds" / p).read_text() for p in kept} == kept
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 24
