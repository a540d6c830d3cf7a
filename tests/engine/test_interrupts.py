"""Interrupts leave a trail, and one process at a time works in a run folder.

A real `mertk run` in a subprocess (2 local worker processes, the test-only ``faulty`` model on the
tiny flow manifest) is stopped by SIGINT or SIGTERM once its first fold is written: it exits with
128 + the signal, says how to resume on screen and in run.log, keeps its folds, leaves no worker
and no "leaked semaphore" warning, and the resume finishes the run. While it runs, a second
`mertk run --resume` of its folder is refused naming it, without touching the folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mertk.engine import fold as fold_module
from mertk.engine import runner
from mertk.engine.rundir import RunFolder
from mertk.engine.runlock import LOCK_NAME, RunFolderBusy, RunLock
from mertk.testing import invoke

from .test_executors import ONE_PROCESS, PLUGIN, POOL, children


def _default_sigint() -> None:
    """A background job of a shell starts with SIGINT ignored; a terminal's Ctrl-C does not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(tmp_path: Path, flow_manifest: Path, run: Path) -> subprocess.Popen:
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "name": "interrupted", "dataset": {"name": "manifest", "path": str(flow_manifest)},
        "model": {"name": "faulty"}, "preprocess": {"cache": False, "workers": 1},
        "train": {"epochs": 150, "batch_size": 8}, "output": {"export_model": False}, "executor": POOL}))
    return subprocess.Popen([sys.executable, "-m", "mertk", "--plugin", str(PLUGIN), "run", str(config),
                             "--run-dir", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)


def _wait_for_first_fold(driver: subprocess.Popen, run: Path) -> None:
    deadline = time.monotonic() + 120
    while not list(run.glob("folds/*.json")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_exits_with_the_signal_says_how_to_resume_and_resumes(signum, flow_manifest,
                                                                                tmp_path: Path) -> None:
    run = tmp_path / "run"
    driver = _start_run(tmp_path, flow_manifest, run)
    _wait_for_first_fold(driver, run)
    workers = children(driver.pid)

    # a second process resuming the same folder meanwhile is refused, naming the holder, and changes nothing
    before = _snapshot(run)
    second = invoke(["--plugin", str(PLUGIN), "run", "--resume", str(run)])
    assert second.exit_code == 1
    assert f"in use by pid {driver.pid} on host {socket.gethostname()} since " in second.output
    assert f"`mertk --plugin {PLUGIN} run " in second.output and "Traceback" not in second.output  # its command
    after = _snapshot(run)  # the holder goes on writing folds and its log; the refused process wrote nothing
    assert after["config.yaml"] == before["config.yaml"] and after["environment.json"] == before["environment.json"]
    assert not [k for k in after if k.startswith("environment-resume")] and b"resuming" not in after["run.log"]

    os.kill(driver.pid, signum)
    _, stderr = driver.communicate(timeout=60)
    stderr = stderr.decode()
    what = "interrupted" if signum == signal.SIGINT else "interrupted (SIGTERM)"
    hint = f"{what}; resume with `mertk run --resume {run}`"
    assert driver.returncode == 128 + signum, stderr[-2000:]
    assert hint in stderr and "Traceback" not in stderr and "Aborted" not in stderr
    assert "leaked semaphore" not in stderr
    assert (run / "run.log").read_text().splitlines()[-1] == hint
    assert not (run / LOCK_NAME).exists()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # the pool was stopped
    written = {p.name: p.read_text() for p in sorted(run.glob("folds/[0-9][0-9][0-9].json"))}
    assert 1 <= len(written) < 4 and not (run / "metrics.json").exists()

    resumed = invoke(["--plugin", str(PLUGIN), "run", "--resume", str(run), "--set", f"executor={ONE_PROCESS}"])
    assert resumed.exit_code == 0, resumed.output
    assert (run / "metrics.json").is_file() and len(list(run.glob("folds/*.json"))) == 4
    assert {p: (run / "folds" / p).read_text() for p in written} == written  # kept as they were


def test_a_lock_left_by_a_killed_process_does_not_block_the_next_one(tmp_path: Path) -> None:
    """kill -9 gives the holder no chance to release the lock: the kernel does (flock)."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from mertk.engine.runlock import RunLock; "
                               "RunLock.acquire(sys.argv[1]); print('locked', flush=True); time.sleep(120)",
                               str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=rf"in use by pid {holder.pid} on host .* since .* \(`-c {folder}`\)") as busy:
            RunLock.acquire(folder)
        assert busy.value.holder["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert (folder / LOCK_NAME).exists()  # left behind, but not held
    lock = RunLock.acquire(folder)
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (folder / LOCK_NAME).exists()


def test_a_run_holds_its_folder_until_it_ends_however_it_ends(make_config, fake_data, components,
                                                             tmp_path: Path, monkeypatch) -> None:
    """A new run locks the folder it creates; the lock goes when the run fails (and when it finishes)."""
    run_dir = tmp_path / "run"
    real = fold_module.train_folds
    seen: list[tuple[int, ...]] = []

    def try_to_open_the_folder_then_fail(ctx, indices):
        with pytest.raises(RunFolderBusy, match=f"in use by pid {os.getpid()} "):
            RunFolder.open(run_dir)
        seen.append(tuple(indices))
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(ctx, indices)

    monkeypatch.setattr(fold_module, "train_folds", try_to_open_the_folder_then_fail)
    with pytest.raises(KeyboardInterrupt):
        runner.run_experiment(make_config(), components, run_dir=run_dir)
    assert not (run_dir / LOCK_NAME).exists()
    log = (run_dir / "run.log").read_text().splitlines()
    assert log[-1] == f"interrupted; resume with `mertk run --resume {run_dir}`"
    monkeypatch.setattr(fold_module, "train_folds", real)
    runner.run_experiment(make_config(), components, run_dir=run_dir, resume=True)
    assert (run_dir / "metrics.json").is_file() and not (run_dir / LOCK_NAME).exists()
