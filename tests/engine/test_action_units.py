"""The action-unit task end to end: real preprocessing and training on the flows demo with AUs
(``au_plugin/demo_aus.py``), scored by per-AU F1, resumable, on every local executor, LODO only
across datasets; the emotion task's recipe and fingerprints unchanged."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import mertk
from mertk.config import load_config
from mertk.engine import fingerprint
from mertk.engine.runner import run_experiment
from mertk.errors import MertkError
from mertk.testing import invoke

from .conftest import crash_on_fold, folds_of

PLUGIN = Path(__file__).parent / "au_plugin" / "demo_aus.py"
AUS = ["AU1", "AU2", "AU4", "AU6", "AU12"]


@pytest.fixture(scope="module")
def au_components() -> mertk.Components:
    return mertk.load_components(extra=[PLUGIN])


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-aus") / "demo"


@pytest.fixture
def au_config(tmp_path: Path, demo_root: Path):
    """Write an AU config (``changes`` merged in at the top level) and return its path."""
    def write(**changes) -> Path:
        data = {
            "name": "aus", "seed": 1,
            "dataset": {"name": "demo-aus", "root": str(demo_root), "per_dataset": 16},
            "task": {"name": "aus", "aus": AUS},
            "protocol": "lodo",
            "model": {"name": "dual-atme", "hidden": 16},
            "preprocess": {"views": {"face": "full-face", "hars": "hars"}},
            "loss": [{"name": "multilabel-bce"}, {"name": "similarity", "weight": 0.01}],
            "train": {"epochs": 2, "batch_size": 8},
            "output": {"dir": str(tmp_path / "runs"), "export_model": False},
            "executor": {"name": "local", "workers": 1},
            **changes,
        }
        path = tmp_path / "aus.yaml"
        path.write_text(yaml.safe_dump(data))
        return path
    return write


def f1_by_hand(true: list[list[int]], pred: list[list[int]]) -> list[float]:
    """Per column ``2 TP / (2 TP + FP + FN)``, 0 when that is 0/0."""
    t, p = np.asarray(true, dtype=bool), np.asarray(pred, dtype=bool)
    out = []
    for k in range(t.shape[1]):
        tp, fp, fn = (t[:, k] & p[:, k]).sum(), (~t[:, k] & p[:, k]).sum(), (t[:, k] & ~p[:, k]).sum()
        out.append(2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0)
    return out


def test_an_au_run_writes_au_f1_per_au_per_dataset_and_its_report(au_config, au_components, tmp_path: Path) -> None:
    config = au_config(output={"dir": str(tmp_path / "runs"), "export_model": True})
    run = run_experiment(load_config(config, au_components), au_components, run_dir=tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "aus" and metrics["aus"] == AUS
    assert set(metrics["per_group"]) == {"casme2", "samm"}  # SMIC released no AUs: left out
    log = (run / "run.log").read_text()
    assert "16 sample(s) left out for task 'aus': smic" in log
    assert "data: 32 samples, 5 action units" in log  # the task's outputs, not the data set's classes
    records = [json.loads(p.read_text()) for p in sorted((run / "folds").glob("*.json"))]
    assert [r["name"] for r in records] == ["casme2", "samm"]  # leave-one-dataset-out
    true = [y for r in records for y in r["y_true"]]
    pred = [y for r in records for y in r["y_pred"]]
    assert all(len(y) == len(AUS) and set(y) <= {0, 1} for y in true + pred)
    assert [metrics["per_au"][au] for au in AUS] == pytest.approx(f1_by_hand(true, pred))
    assert metrics["au_f1"] == pytest.approx(np.mean(f1_by_hand(true, pred)))
    casme2 = records[0]
    assert [metrics["per_group"]["casme2"]["per_au"][au] for au in AUS] == pytest.approx(
        f1_by_hand(casme2["y_true"], casme2["y_pred"]))
    for r in records:  # each sample's decision is its scores' threshold at 0.5
        assert [[int(q >= 0.5) for q in probs] for probs in r["probs"]] == r["y_pred"]
    with (run / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 32 and {f"p_{au}" for au in AUS} <= set(rows[0])
    assert all(row["true_class"] == "+".join(a for a, v in zip(AUS, row["label"].split()) if v == "1") for row in rows)
    report = (run / "report.md").read_text()
    assert "| AU12 |" in report and "per_au.png" in report and (run / "per_au.png").is_file()
    assert "left out for the task: 16 x smic: no action-unit coding released" in report
    assert not (run / "confusion_matrix.png").exists()
    assert json.loads((run / "model" / "model.json").read_text())["task"] == "aus"
    assert "accuracy" in (run / "history.csv").read_text().splitlines()[0].split(",")
    assert all(0.0 <= h["accuracy"] <= 1.0 for r in records for h in r["history"])


def test_an_au_run_resumes_and_refuses_a_changed_task(au_config, au_components, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = au_config()
    calls = crash_on_fold(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_config(config, au_components), au_components, run_dir=tmp_path / "run")
    run = tmp_path / "run"
    changed = invoke(["--plugin", str(PLUGIN), "run", "--resume", str(run), "--set", "task.aus=[AU4, AU12]"])
    assert changed.exit_code == 1 and "Traceback" not in changed.output
    assert "cannot resume" in changed.output and "task.aus" in changed.output
    emotion = invoke(["--plugin", str(PLUGIN), "run", "--resume", str(run), "--set", "task=emotion",
                      "--set", "loss=[focal]"])
    assert emotion.exit_code == 1 and "task.name: aus -> (not set)" in emotion.output
    calls.clear()
    run_experiment(load_config(run / "config.yaml", au_components), au_components, run_dir=run, resume=True)
    assert calls == ["fold 2/2 samm"]  # the finished fold is kept
    assert json.loads((run / "metrics.json").read_text())["task"] == "aus"


@pytest.mark.parametrize("executor", [{"name": "local", "workers": 2, "threads": 1}, {"name": "ray", "num_cpus": 1}],
                         ids=["local-pool", "ray"])
def test_an_au_run_on_another_executor_gives_the_folds_of_one_process(au_config, au_components, tmp_path: Path,
                                                                       request: pytest.FixtureRequest,
                                                                       executor: dict) -> None:
    if executor["name"] == "ray":
        request.getfixturevalue("ray_local")  # a real local Ray (skips without the ray extra)
    here = au_config(executor={"name": "local", "workers": 1, "threads": 1})  # the same arithmetic as a worker's
    one = run_experiment(load_config(here, au_components), au_components, run_dir=tmp_path / "one")
    there = run_experiment(load_config(au_config(executor=executor), au_components), au_components,
                           run_dir=tmp_path / "there")
    assert f"executor {executor['name']}: " in (there / "run.log").read_text()
    assert folds_of(one) == folds_of(there)
    assert json.loads((one / "metrics.json").read_text()) == json.loads((there / "metrics.json").read_text())


@pytest.mark.parametrize("executor", [{"name": "local", "workers": 2, "threads": 1}, {"name": "ray", "num_cpus": 1}],
                         ids=["local-pool", "ray"])
def test_an_au_run_stopped_in_process_resumes_on_another_executor_as_if_never_stopped(
        au_config, au_components, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        executor: dict) -> None:
    if executor["name"] == "ray":
        request.getfixturevalue("ray_local")  # a real local Ray (skips without the ray extra)
    config = au_config(executor={"name": "local", "workers": 1, "threads": 1})
    whole = run_experiment(load_config(config, au_components), au_components, run_dir=tmp_path / "whole")
    crash_on_fold(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(load_config(config, au_components), au_components, run_dir=tmp_path / "run")
    monkeypatch.undo()  # the rest trains as it would in any run
    run = tmp_path / "run"
    resumed = load_config(run / "config.yaml", au_components, [f"executor={json.dumps(executor)}"])
    run_experiment(resumed, au_components, run_dir=run, resume=True)
    log = (run / "run.log").read_text()
    assert "fold 1/2 casme2: finished earlier, kept" in log and f"executor {executor['name']}: " in log
    assert folds_of(run) == folds_of(whole)
    assert json.loads((run / "metrics.json").read_text()) == json.loads((whole / "metrics.json").read_text())


def test_stacked_au_folds_train_as_one_after_another(au_config, au_components, tmp_path: Path) -> None:
    off = run_experiment(load_config(au_config(), au_components), au_components, run_dir=tmp_path / "off")
    stacked = au_config(train={"epochs": 2, "batch_size": 8, "stack_folds": 2})
    on = run_experiment(load_config(stacked, au_components), au_components, run_dir=tmp_path / "on")
    for seq, stack in zip(folds_of(off).values(), folds_of(on).values()):
        assert stack["stack"] == [0, 1] and stack["y_true"] == seq["y_true"]
        for a, b in zip(seq["history"], stack["history"]):
            assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
            assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1e-6)  # the task's statistic, stacked too


def test_lodo_refuses_a_single_dataset_naming_it_and_the_fix(au_config, tmp_path: Path) -> None:
    config = au_config(dataset={"name": "demo-aus", "root": str(tmp_path / "demo"), "per_dataset": 12,
                                "datasets": ["casme2"]})
    result = invoke(["--plugin", str(PLUGIN), "run", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "protocol lodo: all 12 usable samples come from one dataset ('casme2')" in result.output
    assert "Fix:" in result.output and "protocol loso" in result.output


def test_a_run_whose_samples_have_no_au_coding_says_so(au_config, tmp_path: Path) -> None:
    config = au_config(dataset={"name": "demo-aus", "root": str(tmp_path / "demo"), "per_dataset": 8,
                                "datasets": ["smic"]})
    result = invoke(["--plugin", str(PLUGIN), "run", str(config)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "8 x smic: no action-unit coding released" in result.output and "Fix:" in result.output


def test_an_au_no_sample_shows_is_refused_before_preprocessing(au_config, au_components) -> None:
    loaded = load_config(au_config(task={"name": "aus", "aus": ["AU4", "AU9"]}), au_components)
    with pytest.raises(MertkError, match=r"task aus: AU9 occur\(s\) in none of the 32 usable samples.*Fix: remove"):
        run_experiment(loaded, au_components)


def test_config_check_refuses_a_class_loss_or_a_bad_au_code(au_config) -> None:
    loss = invoke(["--plugin", str(PLUGIN), "config", "check", str(au_config(loss=[{"name": "focal"}]))])
    assert loss.exit_code == 1 and "Traceback" not in loss.output
    assert "loss.0: loss 'focal' takes classes targets, but task 'aus' makes multi-label targets" in loss.output
    assert "multilabel-bce" in loss.output
    code = invoke(["--plugin", str(PLUGIN), "config", "check", str(au_config(task={"name": "aus", "aus": ["R12"]}))])
    assert code.exit_code == 1 and "task.aus.0: 'R12' is not a FACS action unit" in code.output
    svm = invoke(["config", "check", "lbp-top.yaml", "--set", "task={name: aus, aus: [AU4]}",
                  "--set", "loss=[multilabel-bce]"])
    assert svm.exit_code == 1 and "model: model 'linear-svm' is fitted to class labels" in svm.output
    twice = invoke(["--plugin", str(PLUGIN), "config", "check",
                    str(au_config(task={"name": "aus", "aus": ["AU4", "4"]}))])
    assert twice.exit_code == 1 and "task.aus.1: AU4 is named twice" in twice.output


def test_the_emotion_recipe_fingerprint_is_what_it_was_before_tasks(make_config, components) -> None:
    plain = fingerprint.recipe_fingerprint(make_config(), components)
    assert "task" not in plain["config"]  # a config without `task` fingerprints as before tasks existed
    assert fingerprint.recipe_fingerprint(make_config({"task": "emotion"}), components) == plain
    aus = make_config({"task": {"name": "aus", "aus": ["AU4"]}, "loss": [{"name": "multilabel-bce"}]})
    recorded = fingerprint.recipe_fingerprint(aus, components)
    assert recorded["config"]["task"] == {"name": "aus", "aus": ["AU4"]}
    assert "task.name: (not set) -> aus" in fingerprint.recipe_changes(plain, recorded)


@pytest.mark.parametrize("name", ["resnet18-aus.yaml", "dual-atme-aus.yaml"])
def test_the_bundled_au_configs_train_a_head_with_one_output_per_au(name, au_components, demo_root,
                                                                    tmp_path: Path) -> None:
    bundled = load_config(name, au_components)
    assert bundled.config.task["name"] == "aus" and bundled.config.protocol == {"name": "lodo"}
    loaded = load_config(name, au_components, [
        f"dataset={{name: demo-aus, root: {demo_root}, per_dataset: 12}}", f"task.aus=[{', '.join(AUS)}]",
        "train.epochs=1", "train.batch_size=8", f"output.dir={tmp_path}", "output.export_model=true"])
    run = run_experiment(loaded, au_components, run_dir=tmp_path / "run")
    assert json.loads((run / "metrics.json").read_text())["aus"] == AUS
    weights = json.loads((run / "model" / "model.json").read_text())
    assert weights["class_names"] == AUS and weights["task"] == "aus"
    record = json.loads((run / "folds" / "000.json").read_text())
    assert all(len(p) == len(AUS) for p in record["probs"])  # the model's head has one output per AU


@pytest.mark.slow
def test_bench_compares_au_configs_by_mean_au_f1_over_seeds(demo_root: Path, tmp_path: Path) -> None:
    bench_dir = tmp_path / "bench"
    result = invoke(["--plugin", str(PLUGIN), "bench", "resnet18-aus.yaml", "dual-atme-aus.yaml", "--seeds", "2",
                     "--dir", str(bench_dir), "--set", f"dataset={{name: demo-aus, root: {demo_root}, per_dataset: 8}}",
                     "--set", f"task.aus=[{', '.join(AUS)}]", "--set", "train.epochs=1", "--set", "train.batch_size=8",
                     "--set", "executor.workers=1", "--set", "preprocess.cache=false"])
    assert result.exit_code == 0, result.output
    with open(bench_dir / "bench.csv", newline="") as f:
        table = {(r["config"], r["scope"]): r for r in csv.DictReader(f)}
    assert set(table) == {(c, s) for c in ("resnet18-aus", "dual-atme-aus") for s in ("overall", "casme2", "samm")}
    for config in ("resnet18-aus", "dual-atme-aus"):
        scores = [json.loads((bench_dir / f"{config}-seed{s}" / "metrics.json").read_text())["au_f1"] for s in (1, 2)]
        row = table[(config, "overall")]
        assert row["seeds"] == "2" and float(row["au_f1_mean"]) == pytest.approx(np.mean(scores), abs=1e-4)
        assert float(row["au_f1_std"]) == pytest.approx(np.std(scores, ddof=1), abs=1e-4)
    assert "| config | model | seeds | AU F1 |" in (bench_dir / "bench.md").read_text()
    mixed = invoke(["--plugin", str(PLUGIN), "bench", "resnet18-aus.yaml", "resnet18.yaml", "--dir", str(bench_dir),
                    "--set", f"dataset={{name: demo-aus, root: {demo_root}, per_dataset: 8}}", "--set", "protocol=lodo"])
    assert mixed.exit_code == 1 and "Traceback" not in mixed.output
    assert "bench compares configs of one task, but resnet18.yaml has task emotion" in mixed.output


def test_trackers_receive_the_au_scores(au_config, au_components, tmp_path: Path) -> None:
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'mertk[mlflow]')")
    from mlflow.tracking import MlflowClient

    store = "sqlite:///" + (tmp_path / "mlflow.db").as_posix()
    config = au_config(output={"dir": str(tmp_path / "runs"), "export_model": False,
                               "trackers": [{"name": "mlflow", "tracking_uri": store}]})
    run = run_experiment(load_config(config, au_components), au_components, run_dir=tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    client = MlflowClient(tracking_uri=store)
    (parent,) = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
                 if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.metrics["au_f1"] == pytest.approx(metrics["au_f1"])
    assert parent.data.metrics["per_au/AU4"] == pytest.approx(metrics["per_au"]["AU4"])
    assert parent.data.metrics["samm/au_f1"] == pytest.approx(metrics["per_group"]["samm"]["au_f1"])
    assert "per_au.png" in {a.path for a in client.list_artifacts(parent.info.run_id)}


def test_resume_refuses_samples_whose_aus_changed(au_config, au_components, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_experiment(load_config(au_config(), au_components), au_components, run_dir=tmp_path / "run")
    (plugin,) = [p for p in au_components.plugin_manager.get_plugins() if hasattr(p, "aus_of")]
    real = plugin.aus_of
    monkeypatch.setattr(plugin, "aus_of", lambda sample, i: ("AU1", "AU4") if sample.label == 0 else real(sample, i))
    with pytest.raises(MertkError, match=r"samples with another label: casme2/sub01/EP01: \[0, 0, 1, 0, 0\] -> "):
        run_experiment(load_config(run / "config.yaml", au_components), au_components, run_dir=run, resume=True)
