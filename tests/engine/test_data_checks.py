"""Data that cannot train a classifier is refused before training: one class overall (before
preprocessing), or a protocol whose fold trains on one class."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from mertk.testing import invoke


def _relabel(manifest: Path, label) -> None:
    """Rewrite the manifest's labels with ``label(row)``."""
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["label"] = label(row)
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _config(tmp_path: Path, manifest: Path) -> Path:
    config = {"name": "one-class", "dataset": {"name": "manifest", "path": str(manifest)},
              "model": {"name": "dual-atme", "hidden": 16}, "train": {"epochs": 1, "batch_size": 8, "threads": 1},
              "preprocess": {"cache": False, "workers": 1, "views": {"face": "full-face", "hars": "hars"}}, "output": {"dir": str(tmp_path / "runs")},
              "executor": {"name": "local", "workers": 1}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_data_of_one_class_is_refused_before_preprocessing(flow_manifest: Path, tmp_path: Path) -> None:
    _relabel(flow_manifest, lambda row: "negative")
    config = _config(tmp_path, flow_manifest)
    for command in (["run", str(config)], ["bench", str(config), "--dir", str(tmp_path / "bench")]):
        result = invoke(command)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert "run.yaml: dataset: all 24 usable samples are of class 'negative'; a classifier needs at least two " \
               "classes" in result.output
        assert "Fix: check the dataset's classes argument" in result.output
    (run,) = (tmp_path / "runs").iterdir()
    assert not (run / "preprocessing.csv").exists() and not (run / "folds").exists()  # stopped before preprocessing


def test_a_fold_that_trains_on_one_class_is_refused(flow_manifest: Path, tmp_path: Path) -> None:
    """Every clip of alpha/s1 is 'negative', all others 'positive': the LOSO fold that tests alpha/s1
    would train on 'positive' alone."""
    _relabel(flow_manifest, lambda row: "negative" if (row["dataset"], row["subject"]) == ("alpha", "s1")
             else "positive")
    result = invoke(["run", str(_config(tmp_path, flow_manifest))])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "run.yaml: protocol 'loso': fold 1/4 alpha/s1 has only class 'positive' (18 samples) to train on" in result.output
    assert "Fix: choose a protocol" in result.output
    (run,) = (tmp_path / "runs").iterdir()
    assert not (run / "folds").exists()  # no fold trained
