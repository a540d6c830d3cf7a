"""Executors: the same folds whichever executor runs them, and the faults each must survive or report.

The Ray tests use a real local Ray (``ray.init(num_cpus=2)``, the ``ray_local`` fixture) and skip
when the ``ray`` extra is not installed. Every run pins one intra-op thread per process, so a fold
does the same float operations in the same order wherever it runs: predictions, probabilities,
training histories and weights are compared bit for bit (the cluster docs say why other thread
counts may differ in the last bits).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import mertk
from mertk.config import load_config
from mertk.engine import run as run_module
from mertk.engine import runner
from mertk.engine.runlock import RunLock
from mertk.errors import MertkError
from mertk.interrupts import Interrupted
from mertk.testing import invoke

from .conftest import folds_of, synthetic_data

PLUGIN = Path(__file__).parent / "executor_plugin" / "faulty_model.py"
ONE_PROCESS = {"name": "local", "workers": 1, "threads": 1}
POOL = {"name": "local", "workers": 2, "threads": 1}
RAY = {"name": "ray", "num_cpus": 1}


def weights_of(run_dir: Path) -> dict[str, dict]:
    from safetensors.torch import load_file

    return {p.name: load_file(p) for p in sorted((run_dir / "checkpoints").glob("*.safetensors"))}


def same_weights(a: dict[str, dict], b: dict[str, dict]) -> bool:
    return a.keys() == b.keys() and all(
        x.keys() == y.keys() and all(bool((x[k] == y[k]).all()) for k in x) for x, y in zip(a.values(), b.values()))


@pytest.fixture(scope="module")
def faulty_components() -> mertk.Components:
    """The installed plugins plus the test-only ``faulty`` model, loaded by path (so workers load it too)."""
    return mertk.load_components(extra=[PLUGIN])


def faulty_config(tmp_path: Path, components: mertk.Components, executor: dict, **model):
    data = {"name": "faulty", "dataset": {"name": "demo"}, "model": {"name": "faulty", **model},
            "train": {"epochs": 3, "batch_size": 8}, "output": {"export_model": False, "dir": str(tmp_path / "runs")},
            "executor": executor}
    path = tmp_path / "faulty.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path, components)


# ------------------------------------------------------------------ cores, threads, plugins in workers


def test_workers_divide_the_cores_this_process_may_use(monkeypatch) -> None:
    """Quota, affinity and OMP_NUM_THREADS are read by mertk.cpus (tests/core/test_cpus.py); each
    worker of a pool gets its share of that count."""
    from mertk.cpus import CpuBudget
    from mertk.execution import cpus

    monkeypatch.setattr(cpus, "available_cpus", lambda: CpuBudget(3, "cgroup quota"))
    assert cpus.default_threads(1) == 3 and cpus.default_threads(2) == 1 and cpus.default_threads(4) == 1
    monkeypatch.setattr(cpus, "available_cpus", lambda: CpuBudget(8, "affinity"))
    assert cpus.default_threads(2) == 4 and cpus.default_threads(3) == 2


def test_workers_load_the_same_plugins_or_say_why_they_cannot(faulty_components) -> None:
    from mertk.plugins import plugin_recipe
    from mertk.testing import components_with

    recipe = plugin_recipe(faulty_components)
    assert recipe.extra == (str(PLUGIN.resolve()),)
    assert "faulty" in recipe.load()["model"]

    class NotAModule:
        @mertk.hookimpl
        def register_losses(self, register):
            register("nowhere", lambda: None)

    with pytest.raises(mertk.PluginError, match="not an importable module, so worker processes cannot load it"):
        plugin_recipe(components_with(NotAModule()))


# ------------------------------------------------------------------ the same folds anywhere


def test_local_pool_gives_the_folds_of_one_process(make_config, fake_data, components, tmp_path: Path) -> None:
    output = {"export_model": False, "checkpoints": True, "dir": str(tmp_path / "runs")}
    here = runner.run_experiment(make_config({"executor": ONE_PROCESS, "output": output}), components,
                                 run_dir=tmp_path / "here")
    pool = runner.run_experiment(make_config({"executor": POOL, "output": output}), components,
                                 run_dir=tmp_path / "pool")
    assert len(folds_of(here)) == 4
    assert folds_of(pool) == folds_of(here)
    assert same_weights(weights_of(pool), weights_of(here)) and len(weights_of(pool)) == 4
    assert json.loads((pool / "metrics.json").read_text()) == json.loads((here / "metrics.json").read_text())
    assert json.loads((pool / "environment.json").read_text())["executor"] == "local: 2 worker processes x 1 thread"
    # epochs trained in worker processes reach history.csv when their fold arrives, each once
    assert history_of(pool) == history_of(here) and len(history_of(here)) == 4 * 3


def history_of(run_dir: Path) -> list[dict[str, str]]:
    """``history.csv`` rows less their wall-clock ``seconds``, by fold and epoch; no row twice."""
    with open(run_dir / "history.csv", newline="") as f:
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]
    keys = [(int(r["fold"]), int(r["epoch"])) for r in rows]
    assert len(set(keys)) == len(keys)
    return sorted(rows, key=lambda r: (int(r["fold"]), int(r["epoch"])))


def test_ray_runs_a_tiny_loso_with_the_folds_of_one_process(ray_local, make_config, fake_data, components,
                                                            tmp_path: Path, monkeypatch) -> None:
    puts = []
    real_put = ray_local.put
    monkeypatch.setattr(ray_local, "put", lambda value, **kw: puts.append(value) or real_put(value, **kw))
    here = runner.run_experiment(make_config({"executor": ONE_PROCESS}), components, run_dir=tmp_path / "here")
    on_ray = runner.run_experiment(make_config({"executor": RAY}), components, run_dir=tmp_path / "ray")
    assert len(puts) == 1  # the views went into the object store once, not once per fold
    assert sorted(p.name for p in (on_ray / "folds").iterdir()) == ["000.json", "001.json", "002.json", "003.json"]
    assert folds_of(on_ray) == folds_of(here)
    assert json.loads((on_ray / "metrics.json").read_text()) == json.loads((here / "metrics.json").read_text())
    assert "executor ray: a Ray on this machine, 1 CPU and 1 thread per task" in (on_ray / "run.log").read_text()


# ------------------------------------------------------------------ faults


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def children_while_loading(monkeypatch, *, data=None, error: BaseException | None = None) -> list[list[int]]:
    """Make every run's data loading note this process's child processes, then return ``data`` or
    raise ``error``; returns the notes, one list of pids per load."""
    seen: list[list[int]] = []

    def load(loaded, components, **kwargs):
        seen.append(sorted(p.pid for p in multiprocessing.active_children()))
        if error is not None:
            raise error
        return data

    monkeypatch.setattr(run_module, "load_data", load)
    return seen


def test_the_pool_starts_its_workers_while_the_driver_loads_the_data(monkeypatch, make_config, components,
                                                                    tmp_path: Path) -> None:
    """Every worker is started (and imports torch) before the driver loads the data, not once the
    folds are handed out; the run's folds are the same as in one process."""
    seen = children_while_loading(monkeypatch, data=synthetic_data())
    output = {"export_model": False, "dir": str(tmp_path / "runs")}
    pool = runner.run_experiment(make_config({"executor": POOL, "output": output}), components,
                                 run_dir=tmp_path / "pool")
    assert len(seen) == 1 and len(seen[0]) == 2  # both workers, while the data was loading
    assert not multiprocessing.active_children()
    here = runner.run_experiment(make_config({"executor": ONE_PROCESS, "output": output}), components,
                                 run_dir=tmp_path / "here")
    assert seen[1] == [] and folds_of(pool) == folds_of(here)


@pytest.mark.parametrize("refusal", [MertkError("no usable samples"), KeyboardInterrupt()], ids=["bad-data", "ctrl-c"])
def test_a_run_stopped_while_its_data_loads_leaves_no_worker_process(refusal, monkeypatch, make_config, components,
                                                                    tmp_path: Path) -> None:
    seen = children_while_loading(monkeypatch, error=refusal)
    expected = Interrupted if isinstance(refusal, KeyboardInterrupt) else MertkError
    with pytest.raises(expected):
        runner.run_experiment(make_config({"executor": POOL}), components, run_dir=tmp_path / "run")
    assert len(seen) == 1 and len(seen[0]) == 2  # started early, then stopped with the run
    assert not multiprocessing.active_children() and not [pid for pid in seen[0] if Path(f"/proc/{pid}").exists()]


def test_a_run_refused_on_its_folder_starts_no_worker_process(monkeypatch, make_config, components,
                                                            tmp_path: Path) -> None:
    """A folder that is in use, or not empty, is refused before any worker process starts."""
    import mertk.execution.local as local

    seen = children_while_loading(monkeypatch, data=synthetic_data())
    pools: list[int] = []
    monkeypatch.setattr(local, "_open_pool", lambda *args: pools.append(1))
    busy, full = tmp_path / "busy", tmp_path / "full"
    busy.mkdir()
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    lock = RunLock.acquire(busy)
    try:
        for folder in (busy, full):
            with pytest.raises(MertkError):
                runner.run_experiment(make_config({"executor": POOL}), components, run_dir=folder)
    finally:
        lock.release()
    assert seen == [] and pools == [] and not multiprocessing.active_children()


def test_a_local_worker_imports_only_what_training_needs(fake_data, faulty_components, tmp_path: Path) -> None:
    """A worker's start-up is mostly imports (torch, and torch._dynamo that torch's optimizers
    import): none of the tracking, plotting, video or Ray packages the driver may use."""
    modules = tmp_path / "modules.jsonl"
    runner.run_experiment(faulty_config(tmp_path, faulty_components, POOL, modules=str(modules)), faulty_components,
                          run_dir=tmp_path / "run")
    seen = [json.loads(line) for line in modules.read_text().splitlines()]
    assert seen and all(pid != os.getpid() for pid, _ in seen)  # recorded in the workers
    assert [heavy for _, heavy in seen if heavy] == []


@pytest.mark.parametrize("executor", [RAY, POOL], ids=["ray", "local-pool"])
def test_a_worker_killed_mid_task_is_retried(executor, request, fake_data, faulty_components, tmp_path: Path) -> None:
    if executor is RAY:
        request.getfixturevalue("ray_local")
    died = tmp_path / "died"
    run_dir = runner.run_experiment(faulty_config(tmp_path, faulty_components, executor, die_once=str(died)),
                                    faulty_components, run_dir=tmp_path / "killed")
    assert died.exists()  # a worker did kill itself in its third training step
    (tmp_path / "no-kill").touch()  # the reference: same folds, no worker dies
    reference = runner.run_experiment(
        faulty_config(tmp_path, faulty_components, ONE_PROCESS, die_once=str(tmp_path / "no-kill")),
        faulty_components, run_dir=tmp_path / "reference")
    assert len(folds_of(run_dir)) == 4 and (run_dir / "metrics.json").is_file()
    assert folds_of(run_dir) == folds_of(reference)
    retried = [line for line in (run_dir / "run.log").read_text().splitlines() if "worker died" in line]
    cause = "WorkerCrashedError: " if executor is RAY else "killed by SIGKILL"
    assert len(retried) == 1 and re.fullmatch(rf"worker died running fold \d/4 \S+ \({cause}.*\), retrying \(1/3\)",
                                              retried[0]), retried


@pytest.mark.parametrize("executor", [RAY, POOL], ids=["ray", "local-pool"])
def test_retries_exhausted_write_the_error_and_its_traceback_to_run_log(executor, request, fake_data,
                                                                       faulty_components, tmp_path: Path) -> None:
    if executor is RAY:
        request.getfixturevalue("ray_local")
    loaded = faulty_config(tmp_path, faulty_components, {**executor, "max_retries": 0},
                           die_once=str(tmp_path / "died"))
    with pytest.raises(MertkError, match=r"fold \d/4 \S+ failed: .* \(traceback in .*run\.log\)\. The \d finished "
                                         r"folds? of .* are kept") as failed:
        runner.run_experiment(loaded, faulty_components, run_dir=tmp_path / "run")
    log = (tmp_path / "run" / "run.log").read_text()
    assert f"stopped: {failed.value}\n" in log  # the error, as the screen shows it
    if executor is POOL:
        # the pool's error (with its traceback when it was raised in this process, not when the pool's
        # manager thread set it on the future: timing decides which) and which worker died, and how
        assert "BrokenProcessPool: A " in log
        assert re.search(r"worker process \d+: killed by SIGKILL", log)
        assert "(after 0 retries" not in str(failed.value) and "killed by SIGKILL" in str(failed.value)
    else:
        assert "Traceback (most recent call last)" in log
        assert "WorkerCrashedError" in str(failed.value) and "after 0 retries" in str(failed.value)


@pytest.mark.parametrize("executor", [RAY, ONE_PROCESS], ids=["ray", "one-process"])
def test_a_fold_failing_on_its_input_is_named_and_not_retried(executor, request, fake_data, faulty_components,
                                                             tmp_path: Path) -> None:
    if executor is RAY:
        request.getfixturevalue("ray_local")
    attempts = tmp_path / "attempts"
    loaded = faulty_config(tmp_path, faulty_components, executor, fail_seed=3, attempts=str(attempts))  # fold 3
    with pytest.raises(MertkError, match=r"fold 3/4 beta/s0 failed: ValueError: this fold's input is rejected "
                                         r"\(seed 3\) \(traceback in .*run\.log\)\. The \d finished folds? of "):
        runner.run_experiment(loaded, faulty_components, run_dir=tmp_path / "run")
    assert len(attempts.read_text().splitlines()) == 1  # one attempt: an error in the input is not retried
    assert not (tmp_path / "run" / "folds" / "002.json").exists()
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert "Traceback" in (tmp_path / "run" / "run.log").read_text()


@pytest.mark.parametrize("fault", ["raylet-died", "system-error"])
def test_a_lost_ray_node_ends_with_a_mertk_error_naming_the_cause_and_how_to_resume(
        fault, ray_local, make_config, fake_data, components, tmp_path: Path, monkeypatch) -> None:
    """The driver's own Ray node dies (its raylet: a real one took 40 s to kill the test process,
    so Ray's error is planted); or Ray itself fails. Either ends as a mertk error, not Ray's traceback."""
    name = "get" if fault == "raylet-died" else "wait"  # a task's result, or Ray itself
    real = getattr(ray_local, name)

    def lose_the_node_once_a_fold_is_in(refs, *args, **kwargs):
        if list((tmp_path / "run" / "folds").glob("*.json")):
            if fault == "raylet-died":
                raise ray_local.exceptions.LocalRayletDiedError()
            raise ray_local.exceptions.RaySystemError("the object store is gone\nmore Ray detail")
        return real(refs, *args, **kwargs)

    monkeypatch.setattr(ray_local, name, lose_the_node_once_a_fold_is_in)
    run = tmp_path / "run"
    cause = ("executor 'ray': the Ray node this process is connected to died (LocalRayletDiedError: The task's "
             "local raylet died)" if fault == "raylet-died" else
             "executor ray: a Ray on this machine, 1 CPU and 1 thread per task failed: RaySystemError: System error: "
             "the object store is gone")
    with pytest.raises(MertkError) as failed:
        runner.run_experiment(make_config({"executor": RAY}), components, run_dir=run)
    assert str(failed.value) == (f"{cause}. The finished folds are kept; once the executor works again, "
                                 f"`mertk run --resume {run}` runs the others (the traceback is in run.log)")
    log = (run / "run.log").read_text()
    assert f"stopped: {failed.value}\nTraceback (most recent call last):" in log
    assert len(list(run.glob("folds/*.json"))) in (1, 2, 3)


def test_a_local_task_whose_worker_always_dies_fails_after_the_retries(monkeypatch) -> None:
    from mertk.api import TaskFailure, TaskRetry
    from mertk.execution.local import LocalExecutor

    monkeypatch.syspath_prepend(str(PLUGIN.parent))  # spawned workers import the task by module name
    import faulty_model

    yielded = list(LocalExecutor(workers=2, threads=1, max_retries=1).map(faulty_model.die, None, ["a", "b"]))
    retries = [(i, r) for i, r in yielded if isinstance(r, TaskRetry)]
    assert retries and all(r.attempt == 1 and r.retries == 1 and "killed by SIGKILL" in r.cause for _, r in retries)
    results = {i: r for i, r in yielded if not isinstance(r, TaskRetry)}
    assert len(results) == 2 and sorted(results) == [0, 1] and all(isinstance(r, TaskFailure) for r in results.values())
    assert results[0].error == "WorkerDied" and "died 2 times" in results[0].message
    assert "BrokenProcessPool" in results[0].traceback and "killed by SIGKILL" in results[0].traceback


def test_driver_killed_mid_run_resumes_on_another_executor(ray_local, flow_manifest, tmp_path: Path) -> None:
    """kill -9 of `mertk run` (2 local workers) mid-run; `mertk run --resume` on Ray runs only the
    folds not written, and the run ends as an uninterrupted one."""
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "name": "killed", "dataset": {"name": "manifest", "path": str(flow_manifest)}, "model": {"name": "faulty"},
        "preprocess": {"cache": False, "workers": 1}, "train": {"epochs": 150, "batch_size": 8},
        "output": {"export_model": False}, "executor": POOL}))
    run = tmp_path / "run"
    driver = subprocess.Popen([sys.executable, "-m", "mertk", "--plugin", str(PLUGIN), "run", str(config),
                               "--run-dir", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(run.glob("folds/*.json")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = children(driver.pid)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) >= 2 and not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # none outlives it
    written = {p.name: p.read_text() for p in sorted(run.glob("folds/[0-9][0-9][0-9].json"))}
    assert 1 <= len(written) < 4, driver.stderr.read().decode()[-2000:]
    assert not (run / "metrics.json").exists()
    for text in written.values():
        json.loads(text)  # whole files only: a fold is written to a temporary name, then renamed

    resumed = invoke(["--plugin", str(PLUGIN), "run", "--resume", str(run), "--set", f"executor={RAY}"])
    assert resumed.exit_code == 0, resumed.output
    log = (run / "run.log").read_text()
    assert log.count("finished earlier, kept") == len(written)
    assert {p: (run / "folds" / p).read_text() for p in written} == written  # kept as they were
    reference = invoke(["--plugin", str(PLUGIN), "run", str(config), "--run-dir", str(tmp_path / "reference"),
                        "--set", f"executor={ONE_PROCESS}"])
    assert reference.exit_code == 0, reference.output
    assert folds_of(run) == folds_of(tmp_path / "reference")
    assert (run / "predictions.csv").read_text() == (tmp_path / "reference" / "predictions.csv").read_text()
