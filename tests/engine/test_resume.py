"""Resuming a run folder: only the same experiment continues (the run fingerprint), whatever runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mertk
from mertk.engine import fold as fold_module
from mertk.engine import runner
from mertk.errors import MertkError
from mertk.testing import invoke

from .conftest import crash_on_fold


def files_of(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run folder: its bytes and modification time."""
    return {str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture
def interrupted(make_config, fake_data, components, tmp_path: Path, monkeypatch):
    """A 1-epoch run of the tiny config stopped after 2 of its 4 folds; returns its folder."""
    loaded = make_config({"train": {"epochs": 1, "batch_size": 8}})
    crash_on_fold(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(loaded, components, run_dir=tmp_path / "run")
    return tmp_path / "run"


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a fold was trained")

    monkeypatch.setattr(fold_module, "train_folds", refuse)
    monkeypatch.setattr(fold_module, "train_and_test", refuse)


def test_resume_with_a_changed_setting_refuses_and_names_the_key(interrupted: Path, no_training) -> None:
    before = files_of(interrupted)
    result = invoke(["run", "--resume", str(interrupted), "--set", "train.epochs=2",
                     "--set", "train.optimizer.lr=0.01"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot resume" in result.output
    assert "train.epochs: 1 -> 2" in result.output and "train.optimizer.lr: 0.001 -> 0.01" in result.output
    assert f"mertk run {interrupted / 'config.yaml'} --set train.epochs=2" in result.output  # how to start anew
    assert files_of(interrupted) == before  # nothing written, config.yaml included


def test_resume_after_config_yaml_was_edited_refuses(interrupted: Path, no_training) -> None:
    config = interrupted / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 1", "epochs: 15"))
    before = files_of(interrupted)
    result = invoke(["run", "--resume", str(interrupted)])
    assert result.exit_code == 1 and "train.epochs: 1 -> 15" in result.output
    assert "config.yaml was edited" in result.output
    assert files_of(interrupted) == before


def test_resume_refuses_another_mertk_version(interrupted: Path, components, no_training, monkeypatch) -> None:
    loaded = mertk.config.load_config(interrupted / "config.yaml", components)
    monkeypatch.setattr(mertk, "__version__", "99.0")
    with pytest.raises(MertkError, match=r"version of mertk: .* -> 99\.0"):
        runner.run_experiment(loaded, components, run_dir=interrupted, resume=True)


def test_resume_refuses_other_samples_or_labels(interrupted: Path, components, fake_data, no_training) -> None:
    from dataclasses import replace

    fake_data.samples[5] = replace(fake_data.samples[5], label=(fake_data.samples[5].label + 1) % 3)
    problems = (interrupted / "problems.csv").read_bytes()
    loaded = mertk.config.load_config(interrupted / "config.yaml", components)
    with pytest.raises(MertkError, match=rf"samples with another label: {fake_data.samples[5].id}: 2 -> 0"):
        runner.run_experiment(loaded, components, run_dir=interrupted, resume=True)
    assert (interrupted / "problems.csv").read_bytes() == problems


def test_resume_may_change_where_it_runs_and_keeps_config_yaml(interrupted: Path, monkeypatch) -> None:
    """executor, output and thread settings may change; config.yaml and fingerprint.json stay as written."""
    kept = {name: (interrupted / name).read_bytes() for name in ("config.yaml", "fingerprint.json",
                                                                 "folds/000.json", "folds/001.json")}
    result = invoke(["run", "--resume", str(interrupted), "--set", "executor={name: local, workers: 1, threads: 1}",
                     "--set", "output.checkpoints=true", "--set", "train.threads=1"])
    assert result.exit_code == 0, result.output
    assert {name: (interrupted / name).read_bytes() for name in kept} == kept
    assert sorted(p.name for p in (interrupted / "checkpoints").iterdir()) == ["fold-002.safetensors",
                                                                               "fold-003.safetensors"]
    assert json.loads((interrupted / "metrics.json").read_text())["overall"]["n"] == 24


def test_resuming_a_finished_run_unchanged_trains_nothing(interrupted: Path, components, monkeypatch) -> None:
    assert invoke(["run", "--resume", str(interrupted)]).exit_code == 0
    kept = {n: b for n, (b, _) in files_of(interrupted).items() if n.startswith("folds/") or n in (
        "config.yaml", "fingerprint.json", "predictions.csv")}

    def refuse(*args, **kwargs):
        raise AssertionError("a fold was trained")

    monkeypatch.setattr(fold_module, "train_folds", refuse)
    monkeypatch.setattr(fold_module, "train_and_test", refuse)
    result = invoke(["run", "--resume", str(interrupted)])
    assert result.exit_code == 0, result.output
    assert {n: b for n, (b, _) in files_of(interrupted).items() if n in kept} == kept


def test_a_run_folder_made_before_fingerprints_is_checked_against_config_yaml(interrupted: Path) -> None:
    """No fingerprint.json: a --set change is still refused; an unchanged resume warns in run.log
    and records the fingerprint from then on."""
    (interrupted / "fingerprint.json").unlink()
    refused = invoke(["run", "--resume", str(interrupted), "--set", "train.epochs=2"])
    assert refused.exit_code == 1 and "train.epochs: 1 -> 2" in refused.output
    assert not (interrupted / "fingerprint.json").exists()
    result = invoke(["run", "--resume", str(interrupted)])
    assert result.exit_code == 0, result.output
    assert "warning: " in (interrupted / "run.log").read_text() and "no fingerprint.json" in result.output
    assert set(json.loads((interrupted / "fingerprint.json").read_text())) == {"format", "config", "versions", "data"}


def test_resume_on_a_changed_manifest_refuses_naming_the_file(flow_manifest: Path, tmp_path: Path) -> None:
    """The data fingerprint holds the digest of each annotation file a sample came from."""
    run_dir = tmp_path / "run"
    options = ["--set", f"dataset={{name: manifest, path: {flow_manifest}}}", "--set", "train.epochs=1",
               "--set", "train.batch_size=8", "--set", "train.threads=1", "--set", "preprocess.workers=1",
               "--set", "preprocess.cache=false", "--set", "executor.workers=1", "--set", "output.export_model=false",
               "--set", "protocol={name: kfold, k: 2}"]
    first = invoke(["run", "ststnet.yaml", "--run-dir", str(run_dir), *options])
    assert first.exit_code == 0, first.output
    recorded = json.loads((run_dir / "fingerprint.json").read_text())["data"]
    assert list(recorded["files"]) == [str(flow_manifest)] and len(recorded["samples"]) == 24
    before = files_of(run_dir)
    flow_manifest.write_text(flow_manifest.read_text().replace("s1_0_0,s1,alpha,0", "s1_0_0,s1,alpha,1"))
    result = invoke(["run", "--resume", str(run_dir)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"data file {flow_manifest}: its content changed" in result.output
    assert "samples with another label: alpha/s1/s1_0_0: 0 -> 1" in result.output
    after = files_of(run_dir)
    assert {n: v for n, v in after.items() if n != "run.log" and not n.startswith("environment")} == \
        {n: v for n, v in before.items() if n != "run.log" and not n.startswith("environment")}


def test_the_fingerprint_leaves_out_only_where_and_how_the_run_runs(make_config, components) -> None:
    from mertk.engine.fingerprint import recipe_changes, recipe_fingerprint

    recipe = recipe_fingerprint(make_config(), components)
    config = recipe["config"]
    assert "executor" not in config and "output" not in config and "threads" not in config["train"]
    assert {"workers", "cache", "cache_dir", "batch_size"}.isdisjoint(config["preprocess"])
    assert config["train"]["epochs"] == 3 and config["train"]["device"] == "auto" and "precision" in config["train"]
    assert recipe["versions"]["mertk"] == mertk.__version__
    changed = recipe_fingerprint(make_config(overrides=("loss.0.gamma=3", "executor.workers=4",
                                                        "output.dir=elsewhere", "preprocess.workers=3")), components)
    (change,) = recipe_changes(recipe, changed)
    assert change.startswith("loss.0.gamma: ") and change.endswith(" -> 3.0")


def test_data_changes_name_each_file_and_sample() -> None:
    from mertk.engine.fingerprint import data_changes

    recorded = {"classes": ["a", "b"], "files": {"x.csv": "1", "y.csv": "2"}, "samples": {"s1": 0, "s2": 1, "s3": 1}}
    current = {"classes": ["a", "b"], "files": {"x.csv": "9", "z.csv": "3"}, "samples": {"s1": 1, "s3": 1, "s4": 0}}
    assert data_changes(recorded, current) == [
        "data file x.csv: its content changed since the run started",
        "data file y.csv: no kept sample comes from it any more",
        "data file z.csv: new (no sample came from it when the run started)",
        "samples added: s4", "samples gone: s2", "samples with another label: s1: 0 -> 1"]
    assert data_changes(recorded, recorded) == []
