"""The mlflow and tensorboard trackers on a tiny LOSO run, read back with MLflow's client and
TensorBoard's event reader: a real SQLite MLflow store and real event files in tmp_path; and
the MLflow UI of the same install, started with the command the run prints, read over its REST API."""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mertk.config import load_config
from mertk.engine import runner
from mertk.engine.trainer import Trainer
from mertk.testing import invoke

EPOCHS = 2
#: What the mlflow tracker sets for a tracking server when the user has not (restored after a test).
HTTP_VARIABLES = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT",
                  "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")


def history(run_dir: Path) -> dict[tuple[int, int], dict[str, float]]:
    with open(run_dir / "history.csv", newline="") as f:
        return {(int(r["fold"]), int(r["epoch"])): {k: float(v) for k, v in r.items() if k not in ("fold", "fold_name")}
                for r in csv.DictReader(f)}


def mlflow_client(uri: str):
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'mertk[mlflow]')")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def event_reader(folder: Path):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install 'mertk[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    reader.Reload()
    return reader


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> str:
    """One SQLite store for the tests that do not test the default store (creating one takes seconds)."""
    return "sqlite:///" + (tmp_path_factory.mktemp("mlflow") / "mlflow.db").as_posix()


@pytest.fixture
def tiny(make_config):
    def make(trackers, **output):
        return make_config({"train": {"epochs": EPOCHS, "batch_size": 8},
                            "output": {"export_model": False, "trackers": trackers, **output}})
    return make


def test_mlflow_logs_a_loso_run_with_a_nested_run_per_fold(tiny, fake_data, components, tmp_path: Path) -> None:
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'mertk[mlflow]')")
    run_dir = runner.run_experiment(tiny(["mlflow"], dir=str(tmp_path / "runs")), components)
    store = tmp_path / "runs" / "mlruns"
    assert (store / "mlflow.db").is_file()  # the default store: beside the run folders
    client = mlflow_client("sqlite:///" + (store / "mlflow.db").as_posix())
    experiment = client.get_experiment_by_name("runs")  # the folder holding the run folder
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 5
    parent = parents[0]
    assert parent.info.run_name == run_dir.name and parent.info.status == "FINISHED"
    assert parent.data.params["train.epochs"] == str(EPOCHS) and parent.data.params["model.name"] == "dual-atme"
    assert parent.data.params["train.optimizer.name"] == "adam"  # a default, resolved
    assert parent.data.tags["mertk.env.device"] == "cpu"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert parent.data.metrics["uf1"] == pytest.approx(metrics["overall"]["uf1"])
    assert parent.data.metrics["alpha/uar"] == pytest.approx(metrics["per_group"]["alpha"]["uar"])
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "report.md", "metrics.json", "history.csv", "confusion_matrix.png", "training_curves.png", "config.yaml",
        "environment.json"}

    logged = history(run_dir)
    children = sorted((r for r in runs if r is not parent), key=lambda r: int(r.data.tags["mertk.fold"]))
    assert [r.data.tags["mlflow.parentRunId"] for r in children] == [parent.info.run_id] * 4
    for fold, child in enumerate(children):
        assert child.info.status == "FINISHED"
        for key in ("loss", "loss/similarity", "accuracy", "lr"):
            points = client.get_metric_history(child.info.run_id, f"train/{key}")
            assert [m.step for m in points] == list(range(1, EPOCHS + 1))
            assert [m.value for m in points] == pytest.approx([logged[fold, e][key] for e in range(1, EPOCHS + 1)],
                                                              rel=1e-4)
        record = json.loads((run_dir / "folds" / f"{fold:03d}.json").read_text())
        correct = sum(a == b for a, b in zip(record["y_true"], record["y_pred"]))
        assert child.data.metrics["test_accuracy"] == pytest.approx(correct / len(record["y_true"]))
    by_fold = client.get_metric_history(parent.info.run_id, "fold/test_accuracy")
    assert [m.step for m in by_fold] == [0, 1, 2, 3]
    mean = client.get_metric_history(parent.info.run_id, "mean/train/loss")
    assert [m.value for m in mean] == pytest.approx(
        [sum(logged[f, e]["loss"] for f in range(4)) / 4 for e in range(1, EPOCHS + 1)], rel=1e-4)


def test_bench_runs_are_mlflow_runs_side_by_side(make_config, fake_data, components, tmp_path: Path,
                                                 shared_store, monkeypatch) -> None:
    """`mertk bench` runs each (config, seed) in its own folder of the bench folder: each is its own
    MLflow run, all in the experiment named after the bench folder."""
    from mertk.bench.runs import BenchRun, run_all

    client = mlflow_client(shared_store)
    monkeypatch.chdir(tmp_path)
    bench = tmp_path / "bench-x"
    runs = []
    for label, seed, attention in (("cbam", 1, "cbam"), ("se", 2, "se")):
        loaded = make_config({"train": {"epochs": 1, "batch_size": 8}, "protocol": {"name": "kfold", "k": 2},
                              "output": {"export_model": False,
                                         "trackers": [{"name": "mlflow", "tracking_uri": shared_store}]}},
                             overrides=(f"model.attention={attention}", f"seed={seed}"))
        runs.append(BenchRun(label, seed, loaded, bench / f"{label}-seed{seed}"))
    assert run_all(runs, components, echo=lambda line: None) == {"reused": 0, "resumed": 0, "started": 2}
    experiment = client.get_experiment_by_name("bench-x")
    parents = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
    assert sorted((r.info.run_name, r.data.params["seed"], r.data.params["model.attention.name"]) for r in parents) == [
        ("cbam-seed1", "1", "cbam"), ("se-seed2", "2", "se")]
    assert all("uf1" in r.data.metrics for r in parents)
    # artifacts beside the SQLite file, not in ./mlruns of the folder the run started from
    store = Path(shared_store[len("sqlite:///"):]).parent
    assert all(r.info.artifact_uri.startswith((store / "artifacts").as_uri()) for r in parents)
    assert {a.path for a in client.list_artifacts(parents[0].info.run_id)} >= {"report.md", "metrics.json"}
    assert not (tmp_path / "mlruns").exists()


def test_tensorboard_writes_scalars_per_fold_and_overall(tiny, fake_data, components, tmp_path: Path,
                                                         capsys) -> None:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed (pip install 'mertk[tensorboard]')")
    run_dir = runner.run_experiment(tiny(["tensorboard"]), components, run_dir=tmp_path / "run")
    printed = capsys.readouterr()
    logs = (tmp_path / "run" / "tensorboard").resolve()
    assert (printed.out + printed.err).count(f"tensorboard: event files in {logs}; open them with: "
                                             f"tensorboard --logdir {logs}\n") == 1
    logged = history(run_dir)
    for fold in range(4):
        reader = event_reader(run_dir / "tensorboard" / f"fold-{fold:03d}")
        for key in ("loss", "loss/focal", "accuracy", "seconds"):
            events = reader.Scalars(f"train/{key}")
            assert [e.step for e in events] == list(range(1, EPOCHS + 1))
            assert [e.value for e in events] == pytest.approx([logged[fold, e][key] for e in range(1, EPOCHS + 1)],
                                                              rel=1e-4)
        assert [e.step for e in reader.Scalars("test/accuracy")] == [EPOCHS]
    summary = event_reader(run_dir / "tensorboard" / "summary")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert summary.Scalars("test/uf1")[0].value == pytest.approx(metrics["overall"]["uf1"])
    assert summary.Scalars("test/beta/accuracy")[0].value == pytest.approx(metrics["per_group"]["beta"]["accuracy"])
    assert [e.step for e in summary.Scalars("mean/train/loss")] == list(range(1, EPOCHS + 1))
    image = summary.Images("confusion_matrix")[0]
    assert image.width > 100 and image.height > 100 and image.encoded_image_string[:4] == b"\x89PNG"
    config = summary.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "epochs: 2" in config and "name: dual-atme" in config


def test_resume_continues_the_mlflow_run_and_the_tensorboard_log(tiny, fake_data, components, tmp_path: Path,
                                                                monkeypatch, shared_store) -> None:
    """Killed in fold 3's second epoch, then resumed: one MLflow run, fold 3's curves once, from the retrained fold."""
    client = mlflow_client(shared_store)
    real_epoch = Trainer.epoch
    count = []

    def killed_in_fold_3(self):
        count.append(1)
        if len(count) == 2 * EPOCHS + 2:
            raise KeyboardInterrupt("killed")
        return real_epoch(self)

    monkeypatch.setattr(Trainer, "epoch", killed_in_fold_3)
    loaded = tiny([{"name": "mlflow", "tracking_uri": shared_store, "experiment": "resume"}, "tensorboard"])
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(loaded, components, run_dir=run_dir)
    event_reader(run_dir / "tensorboard" / "fold-002")  # skips here when the extra is missing
    experiment = client.get_experiment_by_name("resume").experiment_id
    (killed,) = [r for r in client.search_runs([experiment]) if "mlflow.parentRunId" not in r.data.tags]
    assert killed.info.status == "KILLED"
    stale = [r for r in client.search_runs([experiment]) if r.data.tags.get("mertk.fold") == "2"]
    assert [m.step for m in client.get_metric_history(stale[0].info.run_id, "train/loss")] == [1]
    monkeypatch.setattr(Trainer, "epoch", real_epoch)

    runner.run_experiment(load_config(run_dir / "config.yaml", components), components, run_dir=run_dir, resume=True)
    runs = client.search_runs([experiment])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [killed.info.run_id] and parents[0].info.status == "FINISHED"
    assert sorted(r.data.tags["mertk.fold"] for r in runs if r not in parents) == ["0", "1", "2", "3"]
    from mlflow.entities import ViewType

    deleted = client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [stale[0].info.run_id]  # the cut-short attempt, hidden
    logged = history(run_dir)
    (fold_2,) = [r for r in runs if r.data.tags.get("mertk.fold") == "2"]
    points = client.get_metric_history(fold_2.info.run_id, "train/loss")
    assert [m.step for m in points] == list(range(1, EPOCHS + 1))
    assert [m.value for m in points] == pytest.approx([logged[2, e]["loss"] for e in range(1, EPOCHS + 1)], rel=1e-4)
    assert [m.step for m in client.get_metric_history(parents[0].info.run_id, "fold/test_accuracy")] == [0, 1, 2, 3]

    reader = event_reader(run_dir / "tensorboard" / "fold-002")
    events = reader.Scalars("train/loss")
    assert [e.step for e in events] == list(range(1, EPOCHS + 1))
    assert [e.value for e in events] == pytest.approx([logged[2, e]["loss"] for e in range(1, EPOCHS + 1)], rel=1e-4)
    summary = event_reader(run_dir / "tensorboard" / "summary")
    assert len(summary.Tensors("config/text_summary")) == 1 and len(summary.Scalars("test/uf1")) == 1

    # resuming the finished run again trains nothing and logs nothing twice
    runner.run_experiment(load_config(run_dir / "config.yaml", components), components, run_dir=run_dir, resume=True)
    (again,) = [r for r in client.search_runs([experiment]) if "mlflow.parentRunId" not in r.data.tags]
    assert again.info.run_id == killed.info.run_id and again.info.status == "FINISHED"
    assert len(client.get_metric_history(again.info.run_id, "uf1")) == 1
    assert len(client.get_metric_history(again.info.run_id, "mean/train/loss")) == EPOCHS
    assert [m.step for m in client.get_metric_history(again.info.run_id, "fold/test_accuracy")] == [0, 1, 2, 3]
    summary = event_reader(run_dir / "tensorboard" / "summary")
    assert len(summary.Tensors("config/text_summary")) == 1 and len(summary.Scalars("test/uf1")) == 1
    assert [e.step for e in summary.Scalars("mean/train/loss")] == list(range(1, EPOCHS + 1))
    assert len(summary.Images("confusion_matrix")) == 1


def test_an_unreachable_mlflow_server_stops_the_run_before_any_training(tiny, fake_data, tmp_path: Path,
                                                                      monkeypatch) -> None:
    """The user asked for MLflow tracking on a server that is down: `mertk run` says so, with the
    fix, and exits 1 before loading data or training (not a warning and an untracked run)."""
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'mertk[mlflow]')")
    for name in HTTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)  # restored after the test: the tracker sets defaults
    # port 9 on the loopback address: nothing listens, the connection is refused at once
    tiny([{"name": "mlflow", "tracking_uri": "http://127.0.0.1:9"}], dir=str(tmp_path / "runs"))
    result = invoke(["run", str(tmp_path / "tiny.yaml")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "Error: tracker 'mlflow' cannot start: the MLflow tracking server http://127.0.0.1:9 does not answer (" \
        in result.output
    assert "Fix: start it (e.g. `mlflow server --host HOST --port PORT` on its machine), or set the tracker's " \
        "tracking_uri in output.trackers to a server that runs" in result.output
    assert f"Nothing was trained: once the tracker works, `mertk run --resume {run_dir}` starts this run" in result.output
    assert not (run_dir / "folds").exists() and not (run_dir / "history.csv").exists()
    assert "data: " not in (run_dir / "run.log").read_text()  # stopped before loading the data


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rest(base: str, endpoint: str, body: dict | None = None) -> dict:
    """GET (or POST ``body`` to) MLflow's REST API ``/api/2.0/mlflow/{endpoint}``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{endpoint}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _wait_until_answers(url: str, server: subprocess.Popen, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the MLflow UI exited ({server.returncode}): {log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise AssertionError(f"the MLflow UI did not answer {url} within {seconds} s")


@pytest.mark.slow
def test_the_mlflow_ui_the_run_names_opens_its_store(tiny, make_config, fake_data, components, tmp_path: Path,
                                                     capfd, monkeypatch) -> None:
    """The `mertk[mlflow]` extra brings an MLflow UI of the client's own version: the command the
    run prints, once, starts it on the run's store, and its REST API lists the run, its folds and
    metrics. The store's INFO chatter (creating its tables) is not printed. A run tracked on that
    UI as a server prints the run's page once, and MLflow's "View run" lines are not printed."""
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed (pip install 'mertk[mlflow]')")
    for name in HTTP_VARIABLES:
        monkeypatch.delenv(name, raising=False)  # restored after the test: the tracker sets defaults
    run_dir = runner.run_experiment(tiny(["mlflow"], dir=str(tmp_path / "runs")), components)
    printed = capfd.readouterr()
    printed = printed.out + printed.err
    store = "sqlite:///" + (tmp_path / "runs" / "mlruns" / "mlflow.db").resolve().as_posix()
    line = (f"mlflow: run {run_dir.name!r} in experiment 'runs' of {store}; "
            f"open it with: mlflow ui --backend-store-uri {store}")
    assert printed.count(line) == 1, printed
    assert "Creating initial MLflow database tables" not in printed and " INFO " not in printed, printed

    command = shlex.split(line.split("open it with: ")[1])
    script = Path(sys.executable).parent / "mlflow"  # the console script of this install
    command = [str(script), *command[1:]] if script.is_file() else [sys.executable, "-m", "mlflow", *command[1:]]
    base = f"http://127.0.0.1:{_free_port()}"
    # one web worker is enough here and starts fewer processes on the test machine's cores
    with (tmp_path / "ui.log").open("w") as log:
        server = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", base.rsplit(":", 1)[1], "--workers", "1"],
                                  cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_answers(f"{base}/health", server, 180, tmp_path / "ui.log")
        experiment = _rest(base, "experiments/get-by-name?experiment_name=runs")["experiment"]
        runs = _rest(base, "runs/search", {"experiment_ids": [experiment["experiment_id"]], "max_results": 100})["runs"]
        tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
        (parent,) = [r for r, t in zip(runs, tags) if "mlflow.parentRunId" not in t]
        assert parent["info"]["run_name"] == run_dir.name and parent["info"]["status"] == "FINISHED"
        assert sorted(t["mertk.fold"] for t in tags if "mertk.fold" in t) == ["0", "1", "2", "3"]
        metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
        expected = json.loads((run_dir / "metrics.json").read_text())["overall"]
        assert metrics["uf1"] == pytest.approx(expected["uf1"]) and metrics["n"] == expected["n"]
        params = {p["key"]: p["value"] for p in parent["data"]["params"]}
        assert params["train.epochs"] == str(EPOCHS)
        history = _rest(base, f"metrics/get-history?run_id={parent['info']['run_id']}&metric_key=fold/test_accuracy")
        assert [m["step"] for m in history["metrics"]] == [0, 1, 2, 3]
        files = _rest(base, f"artifacts/list?run_id={parent['info']['run_id']}")["files"]
        assert {"report.md", "metrics.json"} <= {f["path"] for f in files}

        # the same UI as the tracking server of a run: the run prints its page, and no "View run" per fold
        small = make_config({"train": {"epochs": 1, "batch_size": 8}, "protocol": {"name": "kfold", "k": 2},
                             "output": {"export_model": False, "dir": str(tmp_path / "runs"),
                                        "trackers": [{"name": "mlflow", "tracking_uri": base, "experiment": "served"}]}})
        served = runner.run_experiment(small, components, run_dir=tmp_path / "served")
        printed = capfd.readouterr()
        printed = printed.out + printed.err
        (line,) = [x for x in printed.splitlines() if x.startswith("mlflow: ")]
        experiment = _rest(base, "experiments/get-by-name?experiment_name=served")["experiment"]["experiment_id"]
        (run,) = [r for r in _rest(base, "runs/search", {"experiment_ids": [experiment]})["runs"]
                  if r["info"]["run_name"] == served.name]
        assert line == (f"mlflow: run 'served' in experiment 'served' of {base}; "
                        f"open {base}/#/experiments/{experiment}/runs/{run['info']['run_id']}")
        assert run["info"]["status"] == "FINISHED" and "View run" not in printed and " INFO " not in printed, printed
    finally:
        _end_group(server)


def _end_group(server: subprocess.Popen) -> None:
    """Stop the process group of ``server`` (the UI, its web workers and job consumers): politely,
    then whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:  # every process of the group has ended
            break
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            pass
    server.wait(30)
