"""The bad-input harness: plant careless inputs and faults, check that mertk behaves as a careful user expects.

Issue 22 asks for honest results under any input. This script plants each bad input or fault
(careless configs, broken manifests and annotation trees, damaged model and run folders, output
that cannot be written, interrupts, concurrent runs) in a temporary folder, in the real on-disk
layouts, runs the ``mertk`` command a user would run, and checks:

* a mistake: a non-zero exit, a message naming the file, key or sample (and the fix), no Python
  traceback, nothing half-written;
* a skippable data problem under ``on_error: skip``: a reported skip (``problems.csv``) and a run
  that completes;
* never exit 0 with a wrong result.

Run it as ``python tools/bad_inputs.py [-k SUBSTRING] [--keep]``: one line per case (HELD or
BROKEN, the case's name, what happened), then ``held N/total``; the exit code is 0 only when every
case holds. ``tests/integrity/test_bad_inputs.py`` runs the same cases under pytest, one test each.

The planted data is small and built once (:class:`World`): a manifest of 18 precomputed flow
images (3 subjects, 3 classes), a 2-epoch STSTNet config, one finished run with an exported model,
a 3-frame face clip. Commands run in-process through click's test runner; only the interrupt and
the concurrent-resume cases start processes.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CASES", "Case", "Broken", "World", "run_case", "main"]

REPO = Path(__file__).resolve().parent.parent
TRACEBACK = "Traceback (most recent call last)"
SUBJECTS = ("s1", "s2", "s3")
CLASSES = ("negative", "positive", "surprise")


class Broken(Exception):
    """The case did not behave as a careful user expects; the message says what happened."""


def expect(condition: object, what: str) -> None:
    if not condition:
        raise Broken(what)


# ---------------------------------------------------------------------------------------------- running mertk


@dataclass
class Outcome:
    """What a ``mertk`` command did: exit code, everything it printed, and an uncaught exception."""

    args: list[str]
    code: int | None
    output: str
    crash: str = ""  # "Type: message" of an exception that escaped (a traceback for the user)

    def brief(self, limit: int = 160) -> str:
        text = " ".join(self.output.split())
        return (text[:limit] + "...") if len(text) > limit else text


def cli(*args: object) -> Outcome:
    """``mertk ARGS`` in this process, through the console entry point (:func:`mertk.cli.main`),
    with click's test runner's captured streams: what a user's shell would show."""
    from click.testing import CliRunner

    from mertk.cli import main as mertk_main

    argv = [str(a) for a in args]
    runner = CliRunner()
    code: int | None = 0
    crash = ""
    with runner.isolation() as streams:
        try:
            mertk_main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:  # an exception that escaped the command: the user sees a traceback
            code, crash = None, f"{type(exc).__name__}: {exc}"
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
    output = streams[-1].getvalue().decode("utf-8", errors="replace")
    return Outcome(argv, code, output, crash)


def no_traceback(out: Outcome) -> None:
    expect(not out.crash, f"traceback: {out.crash}")
    expect(TRACEBACK not in out.output, f"a Python traceback was printed: {out.brief()}")


def error_text(output: str) -> str:
    """The error message: from the first ``Error:`` line on (the progress lines before it name
    paths and counts that would match anything), else the whole output."""
    start = output.find("Error:")
    return output if start < 0 else output[start:]


def refused(out: Outcome, *names: str) -> str:
    """A mistake: non-zero exit, no traceback, each of ``names`` in the error message (case-insensitive)."""
    no_traceback(out)
    expect(out.code not in (0, None), f"exit 0 for a mistake: {out.brief()}")
    low = error_text(out.output).lower()
    missing = [n for n in names if n.lower() not in low]
    expect(not missing, f"the message does not name {', '.join(map(repr, missing))}: {out.brief()}")
    shown = " ".join(error_text(out.output).split())
    return f"exit {out.code}: {shown[:110]}" + ("..." if len(shown) > 110 else "")


def succeeded(out: Outcome) -> None:
    no_traceback(out)
    expect(out.code == 0, f"exit {out.code}: {out.brief()}")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def problems_csv(run: Path) -> list[dict[str, str]]:
    path = run / "problems.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------- planted data


def flow_png(label: int, seed: int) -> bytes:
    """A 32 x 32 (u, v, strain) PNG whose bright band depends on ``label``."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    image = rng.uniform(0.3, 0.5, (32, 32, 3))
    image[{0: slice(4, 12), 1: slice(20, 28), 2: slice(12, 20)}[label], 8:24, label] += 0.5
    return cv2.imencode(".png", (image.clip(0, 1) * 255).astype(np.uint8))[1].tobytes()


def face_frames(n: int = 3) -> list[Any]:
    """``n`` RGB frames of a real face (scikit-image's astronaut), moving a pixel a frame."""
    import numpy as np
    import skimage.data

    base = np.ascontiguousarray(skimage.data.astronaut()[0:320, 80:400])
    return [np.roll(base, i, axis=0) for i in range(n)]


def write_frames(folder: Path, frames: Sequence[Any]) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, 1):
        cv2.imwrite(str(folder / f"img{i}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


def noise_frames(folder: Path, n: int = 3) -> Path:
    """Frames with no face in them."""
    import numpy as np

    rng = np.random.default_rng(1)
    return write_frames(folder, [rng.integers(0, 255, (96, 96, 3), dtype=np.uint8) for _ in range(n)])


MANIFEST_HEADER = ["sample", "subject", "dataset", "label", "flow", "frames", "onset", "apex", "offset"]


def manifest_rows() -> list[dict[str, str]]:
    """The good rows: 3 subjects x 3 classes x 2 clips, as flow images under ``flows/``."""
    return [{"sample": f"{s}_{c}_{k}", "subject": s, "dataset": "alpha", "label": CLASSES[c],
             "flow": f"flows/{s}_{c}_{k}.png"} for s in SUBJECTS for c in range(3) for k in range(2)]


def write_manifest(path: Path, rows: Sequence[dict[str, str]], header: Sequence[str] = MANIFEST_HEADER,
                   delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(header), delimiter=delimiter, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _sigint_as_in_a_terminal() -> None:
    """In the child, before ``mertk`` starts: SIGINT at its default, as a terminal's Ctrl-C finds it.

    A shell starts its background jobs with SIGINT ignored, and a child inherits that (Python keeps
    an ignored SIGINT ignored, and so does ``mertk``: a background job's Ctrl-C is not meant for it),
    so a test suite started in the background would otherwise find its Ctrl-C case ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class World:
    """The planted files of one session, built lazily and once, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._count = 0

    def fresh(self, name: str) -> Path:
        """A new empty folder for one case."""
        self._count += 1
        path = self.root / "cases" / f"{self._count:02d}-{name}"
        path.mkdir(parents=True)
        return path

    # -------------------------------------------------------------- data and configs

    @functools.cached_property
    def data(self) -> Path:
        """``data/manifest.csv`` and ``data/flows/*.png``: the good data."""
        folder = self.root / "data"
        (folder / "flows").mkdir(parents=True)
        for i, row in enumerate(manifest_rows()):
            (folder / row["flow"]).write_bytes(flow_png(CLASSES.index(row["label"]), i))
        write_manifest(folder / "manifest.csv", manifest_rows())
        return folder

    @property
    def manifest(self) -> Path:
        return self.data / "manifest.csv"

    def config_data(self, out: Path, **changes: Any) -> dict[str, Any]:
        """The tiny run config as a mapping: a narrow Dual-ATME on the manifest, 2 epochs, in this process."""
        data: dict[str, Any] = {
            "extends": "dual-atme.yaml", "name": "tiny", "seed": 1,
            "dataset": {"name": "manifest", "path": str(self.manifest)},
            "model": {"name": "dual-atme", "hidden": 16},
            "train": {"epochs": 2, "batch_size": 8, "threads": 1, "device": "cpu"},
            "preprocess": {"workers": 1, "cache": False},
            "executor": {"name": "local", "workers": 1},
            "output": {"dir": str(out / "runs"), "export_model": False},
        }
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    def config(self, folder: Path, name: str = "tiny.yaml", **changes: Any) -> Path:
        return write_config(folder / name, self.config_data(folder, **changes))

    @functools.cached_property
    def face_clip(self) -> Path:
        return write_frames(self.root / "clips" / "face", face_frames())

    # -------------------------------------------------------------- a finished run

    @functools.cached_property
    def done(self) -> Path:
        """A finished run with an exported model, made under umask 022 (as on a lab machine)."""
        folder = self.root / "done"
        config = self.config(folder, output={"export_model": True})
        before = os.umask(0o022)
        try:
            out = cli("run", config, "--run-dir", folder / "run")
        finally:
            os.umask(before)
        if out.code != 0 or out.crash:
            raise RuntimeError(f"the reference run failed: {out.crash or out.output[-2000:]}")
        return folder / "run"

    def copy_run(self, name: str, *, drop_fold: int | None = None) -> Path:
        """A copy of the finished run; ``drop_fold``: as if killed before that fold finished."""
        target = self.fresh(name) / "run"
        shutil.copytree(self.done, target)
        if drop_fold is not None:
            (target / "folds" / f"{drop_fold:03d}.json").unlink()
            for name_ in ("metrics.json", "report.md"):
                (target / name_).unlink(missing_ok=True)
        return target

    @property
    def model(self) -> Path:
        return self.done / "model"

    def copy_model(self, name: str) -> Path:
        target = self.fresh(name) / "model"
        shutil.copytree(self.model, target)
        return target

    # -------------------------------------------------------------- one manifest with every skippable problem

    BAD_ROWS = {
        # case name: (sample name, how it is planted)
        "frames_folder_missing": "bad_missing",
        "frame_corrupt": "bad_corrupt",
        "frame_empty": "bad_empty",
        "no_face": "bad_noface",
        "apex_outside_clip": "bad_apex",
        "flow_image_corrupt": "bad_flow",
        "frames_path_is_file": "bad_isfile",
    }

    @functools.cached_property
    def bad_data(self) -> Path:
        """``bad/manifest.csv``: the good flow rows plus one row per skippable problem (subject s1).

        The runs on it detect faces with ``dlib-hog`` alone: the default ``dlib-auto`` falls back to
        the whole frame (see the case ``no_face_default_detector``)."""
        folder = self.root / "bad"
        shutil.copytree(self.data, folder)
        clip = {"subject": "s1", "dataset": "alpha", "label": "surprise", "onset": "1", "apex": "2", "offset": "3"}
        rows = manifest_rows()
        rows.append({**clip, "sample": "bad_missing", "frames": "clips/not_there"})
        write_frames(folder / "clips" / "corrupt", face_frames())
        (folder / "clips" / "corrupt" / "img2.jpg").write_bytes(os.urandom(3000))
        rows.append({**clip, "sample": "bad_corrupt", "frames": "clips/corrupt"})
        write_frames(folder / "clips" / "empty", face_frames())
        (folder / "clips" / "empty" / "img1.jpg").write_bytes(b"")
        rows.append({**clip, "sample": "bad_empty", "frames": "clips/empty"})
        noise_frames(folder / "clips" / "noface")
        rows.append({**clip, "sample": "bad_noface", "frames": "clips/noface"})
        write_frames(folder / "clips" / "apex", face_frames())
        rows.append({**clip, "sample": "bad_apex", "frames": "clips/apex", "apex": "9", "offset": ""})
        (folder / "flows" / "bad_flow.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
        rows.append({"subject": "s1", "dataset": "alpha", "label": "surprise", "sample": "bad_flow",
                     "flow": "flows/bad_flow.png"})
        (folder / "clips" / "a_file.jpg").write_bytes((folder / "clips" / "apex" / "img1.jpg").read_bytes())
        rows.append({**clip, "sample": "bad_isfile", "frames": "clips/a_file.jpg"})
        write_manifest(folder / "manifest.csv", rows)
        return folder

    @functools.cached_property
    def skip_run(self) -> tuple[Outcome, Path]:
        folder = self.root / "skip"
        config = self.config(folder, on_error="skip", dataset={"path": str(self.bad_data / "manifest.csv")},
                             preprocess={"face_detector": "dlib-hog"})
        return cli("run", config, "--run-dir", folder / "run"), folder / "run"

    @functools.cached_property
    def stop_run(self) -> tuple[Outcome, Path]:
        folder = self.root / "stop"
        config = self.config(folder, dataset={"path": str(self.bad_data / "manifest.csv")},
                             preprocess={"face_detector": "dlib-hog"})
        return cli("run", config, "--run-dir", folder / "run"), folder / "run"

    # -------------------------------------------------------------- a dying worker (started early, in the background)

    def dying_worker(self) -> dict[str, Any]:
        """``mertk run`` in its own process, on 2 local worker processes that kill themselves when
        they train; started by :meth:`start` so that its slow worker start-up overlaps other cases."""
        if not hasattr(self, "_dying"):
            folder = self.fresh("worker-dies")
            plugin = folder / "dying_plugin.py"
            plugin.write_text(PLUGIN_DYING, encoding="utf-8")
            data = {**self.config_data(folder), "model": {"name": "dying"}, "loss": [{"name": "cross-entropy"}],
                    "executor": {"name": "local", "workers": 2, "max_retries": 0}}
            config = write_config(folder / "c.yaml", data)
            output_path = folder / "output.txt"
            output = output_path.open("w")
            process = subprocess.Popen([sys.executable, "-m", "mertk", "--plugin", str(plugin), "run", str(config),
                                        "--run-dir", str(folder / "run")], stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            self._dying = {"process": process, "output": output, "output_path": output_path, "run": folder / "run"}
        return self._dying

    def start(self) -> World:
        """Start the background work (the dying-worker run); returns this world."""
        self.dying_worker()
        return self

    def close(self) -> None:
        """End whatever background process is still running."""
        job = getattr(self, "_dying", None)
        if job is not None and job["process"].poll() is None:
            os.killpg(job["process"].pid, signal.SIGKILL)
            job["process"].wait()

    # -------------------------------------------------------------- a run interrupted while another resume starts

    @functools.cached_property
    def interrupted(self) -> dict[str, Any]:
        """A long run in a process of its own; once it trains, a second ``--resume`` of the same
        folder starts (it must refuse: the folder is in use); then Ctrl-C (SIGINT to the group)."""
        folder = self.fresh("interrupted")
        config = self.config(folder, train={"epochs": 100_000})
        run = folder / "run"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        first_err = (folder / "first.err").open("w")
        first = subprocess.Popen([sys.executable, "-m", "mertk", "run", str(config), "--run-dir", str(run)],
                                 stdout=subprocess.DEVNULL, stderr=first_err, env=env, start_new_session=True,
                                 preexec_fn=_sigint_as_in_a_terminal)
        result: dict[str, Any] = {"run": run}
        try:
            deadline = time.monotonic() + 60
            log = run / "run.log"
            while time.monotonic() < deadline and first.poll() is None:
                if log.is_file() and "data:" in log.read_text(encoding="utf-8", errors="replace"):
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # into the first fold's epochs
            if first.poll() is not None:
                raise RuntimeError(f"the long run ended early: {(folder / 'first.err').read_text()[-2000:]}")
            result["second"] = self._second_resume(folder, run)
            os.killpg(first.pid, signal.SIGINT)
            try:
                first.wait(30)
            except subprocess.TimeoutExpired:
                result["first_hung"] = True
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait()
            first_err.close()
        result["code"] = first.returncode
        result["stderr"] = (folder / "first.err").read_text(encoding="utf-8", errors="replace")
        result["log"] = (run / "run.log").read_text(encoding="utf-8", errors="replace") if (run / "run.log").exists() \
            else ""
        return result

    @staticmethod
    def _second_resume(folder: Path, run: Path) -> dict[str, Any]:
        """``mertk run --resume RUN`` while the first process trains in it: exit, output, and
        whether it started training there (killed after it did)."""
        err_path = folder / "second.err"
        with err_path.open("w") as err:
            second = subprocess.Popen([sys.executable, "-m", "mertk", "run", "--resume", str(run)],
                                      stdout=err, stderr=subprocess.STDOUT, start_new_session=True,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
            trained, deadline = False, time.monotonic() + 60
            while second.poll() is None and time.monotonic() < deadline:
                if re.search(r"^resuming ", err_path.read_text(errors="replace"), re.M):
                    trained = True
                    time.sleep(1.0)
                    break
                time.sleep(0.2)
            if second.poll() is None:
                os.killpg(second.pid, signal.SIGKILL)
                second.wait()
        return {"code": second.returncode, "output": err_path.read_text(errors="replace"), "trained": trained}


# ---------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    name: str
    covers: str
    check: Callable[[World], str]


CASES: list[Case] = []


def case(name: str, covers: str) -> Callable[[Callable[[World], str]], Callable[[World], str]]:
    def add(check: Callable[[World], str]) -> Callable[[World], str]:
        CASES.append(Case(name, covers, check))
        return check
    return add


def text_config(w: World, folder: Path, text: str, name: str = "c.yaml", **changes: Any) -> Path:
    """A config file: the tiny config followed by ``text`` (YAML as a user types it)."""
    base = yaml.safe_dump(w.config_data(folder, **changes), sort_keys=False)
    path = folder / name
    path.write_text(base + text, encoding="utf-8")
    return path


def check_config(w: World, name: str, *sets: str, **changes: Any) -> Outcome:
    folder = w.fresh(name)
    config = w.config(folder, **changes)
    return cli("config", "check", config, *[a for s in sets for a in ("--set", s)])


# ----------------------------------------------------------------- item 1: resume with another recipe


@case("resume_changed_epochs", "#1 --resume --set train.epochs=5 after a killed run must refuse, naming the key")
def _(w: World) -> str:
    run = w.copy_run("resume-epochs", drop_fold=2)
    config = (run / "config.yaml").read_bytes()
    out = cli("run", "--resume", run, "--set", "train.epochs=5")
    detail = refused(out, "train.epochs")
    expect(not (run / "folds" / "002.json").exists(), "a fold was trained with the changed recipe")
    expect((run / "config.yaml").read_bytes() == config, "config.yaml was rewritten")
    return detail


@case("resume_edited_config_yaml", "#1 an edited RUN/config.yaml (train.epochs) must be refused on --resume")
def _(w: World) -> str:
    run = w.copy_run("resume-edited", drop_fold=2)
    data = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    data["train"]["epochs"] = 5
    (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = cli("run", "--resume", run)
    detail = refused(out, "train.epochs")
    expect(not (run / "folds" / "002.json").exists(), "a fold was trained with the edited recipe")
    return detail


@case("resume_changed_seed", "#1 --resume --set seed=7 changes a result: refuse, naming 'seed'")
def _(w: World) -> str:
    run = w.copy_run("resume-seed", drop_fold=1)
    out = cli("run", "--resume", run, "--set", "seed=7")
    detail = refused(out, "seed")
    expect(not (run / "folds" / "001.json").exists(), "a fold was trained with another seed")
    return detail


@case("resume_changed_data", "#1 the manifest changed (a label) since the run started: --resume must refuse")
def _(w: World) -> str:
    folder = w.fresh("resume-data")
    data = folder / "data"
    shutil.copytree(w.data, data)
    config = w.config(folder, dataset={"path": str(data / "manifest.csv")})
    first = cli("run", config, "--run-dir", folder / "run")
    succeeded(first)
    run = folder / "run"
    (run / "folds" / "002.json").unlink()
    (run / "metrics.json").unlink()
    rows = manifest_rows()
    rows[0]["label"] = CLASSES[(CLASSES.index(rows[0]["label"]) + 1) % 3]  # a relabelled clip of subject s1
    write_manifest(data / "manifest.csv", rows)
    out = cli("run", "--resume", run)
    detail = refused(out, "manifest")
    expect(not (run / "folds" / "002.json").exists(), "a fold was trained on the changed data")
    return detail


@case("resume_executor_change_allowed", "#1 executor/output settings may change on --resume: the run finishes")
def _(w: World) -> str:
    run = w.copy_run("resume-executor", drop_fold=2)
    out = cli("run", "--resume", run, "--set", "executor.workers=1", "--set", "output.checkpoints=true")
    succeeded(out)
    expect((run / "folds" / "002.json").is_file() and (run / "metrics.json").is_file(), "the run did not finish")
    return "resumed and finished"


@case("resume_finished_noop", "#1 --resume of a finished run with no change is a no-op")
def _(w: World) -> str:
    run = w.copy_run("resume-finished")
    before = snapshot(run)
    out = cli("run", "--resume", run)
    succeeded(out)
    after = snapshot(run)
    changed = [k for k in before if (k.startswith("folds/") or k == "config.yaml" or k.startswith("model/"))
               and after.get(k) != before[k]]
    expect(not changed, f"rewritten: {changed}")
    expect(after["metrics.json"][0] == before["metrics.json"][0], "metrics.json changed")
    return "nothing retrained or rewritten"


# ----------------------------------------------------------------- item 2: out-of-range values


@case("epochs_negative_run", "#2 train.epochs: -3 must be refused before any work (no run folder)")
def _(w: World) -> str:
    folder = w.fresh("epochs-negative")
    config = w.config(folder, train={"epochs": -3})
    out = cli("run", config)
    detail = refused(out, "train.epochs", config.name)
    runs = folder / "runs"
    expect(not runs.exists() or not any(runs.iterdir()), "a run folder was written")
    return detail


@case("batch_size_1", "#2 train.batch_size: 1 drops every batch: config check must refuse")
def _(w: World) -> str:
    return refused(check_config(w, "batch-1", "train.batch_size=1"), "train.batch_size")


@case("batch_size_true", "#2 train.batch_size: true is not a number: config check must refuse")
def _(w: World) -> str:
    return refused(check_config(w, "batch-true", "train.batch_size=true"), "train.batch_size")


@case("epochs_bool", "#2 train.epochs: yes (a YAML bool) is not a number of epochs")
def _(w: World) -> str:
    return refused(check_config(w, "epochs-bool", "train.epochs=yes"), "train.epochs")


@case("lr_zero", "#2 a learning rate of 0 trains nothing: refuse")
def _(w: World) -> str:
    return refused(check_config(w, "lr-0", "train.optimizer.lr=0"), "train.optimizer.lr")


@case("loss_weight_negative", "#2 a negative loss weight: refuse")
def _(w: World) -> str:
    out = check_config(w, "loss-weight", "loss=[{name: cross-entropy, weight: -1}]")
    return refused(out, "loss.0.weight")


@case("view_size_zero", "#2 a view size of 0: refuse")
def _(w: World) -> str:
    return refused(check_config(w, "size-0", "preprocess.views.face.size=0"), "preprocess.views.face.size")


@case("kfold_k_1", "#2 a k-fold protocol with k: 1: refuse")
def _(w: World) -> str:
    return refused(check_config(w, "kfold", "protocol={name: kfold, k: 1}"), "protocol.k")


PLUGIN_RANGED = '''
from typing import Annotated

import pydantic
from torch import nn

import mertk


class Ranged(nn.Module):
    """An attention whose factory declares a range for its argument."""

    def __init__(self, channels: int, depth: Annotated[int, pydantic.Field(ge=1)] = 1):
        super().__init__()

    def forward(self, x):
        return x


@mertk.hookimpl
def register_attentions(register):
    register("ranged-attention", Ranged)
'''


@case("plugin_declared_range", "#2 a plugin factory's Annotated[int, Field(ge=1)] is checked like a built-in's")
def _(w: World) -> str:
    folder = w.fresh("plugin-range")
    plugin = folder / "ranged_plugin.py"
    plugin.write_text(PLUGIN_RANGED, encoding="utf-8")
    config = w.config(folder, model={"attention": {"name": "ranged-attention", "depth": 0}})
    return refused(cli("--plugin", plugin, "config", "check", config), "depth")


# ----------------------------------------------------------------- item 3: model views


@case("model_views_typo", "#3 model.views: [face, harz] must fail config check, naming 'harz'")
def _(w: World) -> str:
    folder = w.fresh("views-typo")
    config = w.config(folder, model={"views": ["face", "harz"]})
    return refused(cli("config", "check", config), "harz", "model.views")


@case("model_view_typo_ststnet", "#3 a single-view model (ststnet view: harz) checked against the preprocess views")
def _(w: World) -> str:
    return refused(check_config(w, "view-typo", "model={name: ststnet, view: harz}", "loss=[cross-entropy]"),
                   "harz")


# ----------------------------------------------------------------- item 4 and damaged model folders


@case("model_json_digest_removed", "#4 model.json without description_sha256 (class names swapped) is an edit")
def _(w: World) -> str:
    model = w.copy_model("digest-removed")
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    meta.pop("description_sha256", None)
    meta["class_names"] = list(reversed(meta["class_names"]))
    (model / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return refused(cli("predict", model, w.face_clip, "--device", "cpu"), "model.json")


@case("model_json_classes_swapped", "damaged model: class names swapped, digest kept -> refused")
def _(w: World) -> str:
    model = w.copy_model("classes-swapped")
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    meta["class_names"] = list(reversed(meta["class_names"]))
    (model / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return refused(cli("predict", model, w.face_clip, "--device", "cpu"), "model.json")


@case("weights_edited", "damaged model: a byte of weights.safetensors changed -> refused")
def _(w: World) -> str:
    model = w.copy_model("weights-edited")
    data = bytearray((model / "weights.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (model / "weights.safetensors").write_bytes(bytes(data))
    return refused(cli("predict", model, w.face_clip, "--device", "cpu"), "weights.safetensors")


@case("predict_non_model_folder", "predict with a folder that is not a model (the data folder)")
def _(w: World) -> str:
    return refused(cli("predict", w.data, w.face_clip, "--device", "cpu"), "model.json")


@case("predict_missing_input", "predict a clip path that does not exist")
def _(w: World) -> str:
    missing = w.root / "no_such_clip"
    return refused(cli("predict", w.model, missing, "--device", "cpu"), "no_such_clip")


# ----------------------------------------------------------------- item 5: encodings


@case("config_utf16", "#5 a UTF-16 config: name the file and its encoding")
def _(w: World) -> str:
    folder = w.fresh("utf16-config")
    path = folder / "utf16.yaml"
    path.write_text(yaml.safe_dump(w.config_data(folder)), encoding="utf-16")
    out = cli("config", "check", path)
    detail = refused(out, "utf16.yaml")
    expect(re.search(r"utf-?16|encod", out.output, re.I), f"the encoding is not named: {out.brief()}")
    return detail


@case("config_binary", "#5 a binary file given as the config")
def _(w: World) -> str:
    folder = w.fresh("binary-config")
    path = folder / "binary.yaml"
    path.write_bytes(bytes(range(256)) * 8)
    return refused(cli("config", "check", path), "binary.yaml")


@case("manifest_binary", "#5 a binary manifest.csv: name the file")
def _(w: World) -> str:
    folder = w.fresh("binary-manifest")
    manifest = folder / "binary_manifest.csv"
    manifest.write_bytes(b"\x00\xff\xfe" + bytes(range(256)) * 8)
    config = w.config(folder, dataset={"path": str(manifest)})
    return refused(cli("datasets", "inspect", config), "binary_manifest.csv")


@case("manifest_utf16", "#5 a UTF-16 manifest (saved by a spreadsheet program): name the file and encoding")
def _(w: World) -> str:
    folder = w.fresh("utf16-manifest")
    manifest = folder / "utf16_manifest.csv"
    manifest.write_text(w.manifest.read_text(encoding="utf-8"), encoding="utf-16")
    config = w.config(folder, dataset={"path": str(manifest)})
    out = cli("run", config)
    detail = refused(out, "utf16_manifest.csv")
    expect(re.search(r"utf-?16|encod", out.output, re.I), f"the encoding is not named: {out.brief()}")
    return detail


# ----------------------------------------------------------------- item 6: output that cannot be written


@case("output_dir_is_file", "#6 output.dir is a file: refuse before work, naming it")
def _(w: World) -> str:
    folder = w.fresh("outdir-file")
    blocker = folder / "results_file"
    blocker.write_text("not a folder\n")
    config = w.config(folder, output={"dir": str(blocker)})
    detail = refused(cli("run", config), "results_file")
    expect(blocker.read_text() == "not a folder\n", "the file was changed")
    return detail


@case("run_dir_under_file", "#6 --run-dir inside a file: refuse, naming it")
def _(w: World) -> str:
    folder = w.fresh("rundir-file")
    blocker = folder / "plain_file"
    blocker.write_text("x")
    return refused(cli("run", w.config(folder), "--run-dir", blocker / "run"), "plain_file")


@case("predict_output_under_file", "#6 predict -o into a file's 'folder': refuse (before the clips are done)")
def _(w: World) -> str:
    folder = w.fresh("predict-o")
    blocker = folder / "plain_file"
    blocker.write_text("x")
    out = cli("predict", w.model, w.face_clip, "-o", blocker / "out.json", "--device", "cpu")
    return refused(out, "plain_file")


@case("explain_output_under_file", "#6 explain -o into a file's 'folder': refuse")
def _(w: World) -> str:
    folder = w.fresh("explain-o")
    blocker = folder / "plain_file"
    blocker.write_text("x")
    out = cli("explain", w.model, w.face_clip, "-o", blocker / "maps", "--device", "cpu")
    return refused(out, "plain_file")


# ----------------------------------------------------------------- item 7: damaged fold record


@case("resume_truncated_fold", "#7 --resume with a truncated folds/001.json: name it, retrain that fold")
def _(w: World) -> str:
    run = w.copy_run("truncated-fold")
    fold = run / "folds" / "001.json"
    fold.write_bytes(fold.read_bytes()[: len(fold.read_bytes()) // 2])
    (run / "metrics.json").unlink()
    out = cli("run", "--resume", run)
    succeeded(out)
    json.loads(fold.read_text(encoding="utf-8"))
    expect((run / "metrics.json").is_file(), "no metrics.json")
    expect("001.json" in (run / "run.log").read_text(encoding="utf-8"), "run.log does not name folds/001.json")
    return "retrained the damaged fold and said so in run.log"


# ----------------------------------------------------------------- item 8: predict --on-error skip


@case("predict_skip_empty_folder", "#8 predict --on-error skip with an empty clip folder: skip it, predict the rest")
def _(w: World) -> str:
    empty = w.fresh("predict-empty") / "empty_clip"
    empty.mkdir()
    out = cli("predict", w.model, w.face_clip, empty, "--on-error", "skip", "--device", "cpu")
    succeeded(out)
    expect('"clip": "face"' in out.output, f"no prediction for the good clip: {out.brief()}")
    expect("empty_clip" in out.output, "the skipped folder is not reported")
    return "skipped and reported"


@case("predict_skip_manifest_missing_folder", "#8 predict --on-error skip, a manifest row whose folder is missing")
def _(w: World) -> str:
    folder = w.fresh("predict-manifest")
    shutil.copytree(w.face_clip, folder / "good")
    with (folder / "clips.csv").open("w", newline="") as f:
        f.write("sample,frames\ngood,good\ngone,gone_folder\n")
    out = cli("predict", w.model, folder / "clips.csv", "--on-error", "skip", "--device", "cpu")
    succeeded(out)
    expect('"clip": "good"' in out.output, f"no prediction for the good row: {out.brief()}")
    expect("gone_folder" in out.output, "the skipped row is not reported")
    doubled = [line for line in out.output.splitlines() if line.count("row 3") > 1]
    expect(not doubled, f"the row is named twice: {doubled[0] if doubled else ''}")
    return "skipped and reported"


@case("predict_stop_empty_folder", "predict (on-error stop) with an empty clip folder: a clear refusal")
def _(w: World) -> str:
    empty = w.fresh("predict-stop") / "empty_clip"
    empty.mkdir()
    folder = empty.parent
    out = cli("predict", w.model, w.face_clip, empty, "--device", "cpu", "-o", folder / "p.json")
    detail = refused(out, "empty_clip")
    expect(not (folder / "p.json").exists(), "predictions were written although the command failed")
    return detail


# ----------------------------------------------------------------- item 9 and 10: interrupts, workers, locks


@case("ctrl_c_exit_130", "#9 Ctrl-C: exit 130, 'resume with mertk run --resume DIR' on screen and in run.log")
def _(w: World) -> str:
    got = w.interrupted
    expect(not got.get("first_hung"), f"the run did not stop within 30 s of Ctrl-C: {got['stderr'][-600:]}")
    expect(TRACEBACK not in got["stderr"], f"traceback on Ctrl-C: {got['stderr'][-300:]}")
    expect(got["code"] == 130, f"exit {got['code']} (expected 130): {got['stderr'][-200:]}")
    expect("--resume" in got["stderr"], "no resume hint on screen")
    expect("interrupt" in got["log"].lower() and "--resume" in got["log"], "run.log has no interrupt/resume line")
    return "exit 130 with the resume hint, also in run.log"


@case("concurrent_resume_locked", "#10 a second --resume of a folder in use refuses, saying who holds it")
def _(w: World) -> str:
    second = w.interrupted["second"]
    expect(not second["trained"], "the second --resume started training in the same folder")
    out = Outcome(["run", "--resume"], second["code"], second["output"])
    return refused(out, "pid") if "pid" in second["output"].lower() else refused(out, "lock")


PLUGIN_DYING = '''
import os
import signal

from torch import nn

import mertk
from mertk.api import ModelOutput


class Dying(nn.Module):
    """A model whose worker process dies (SIGKILL) at its first training step."""

    views = ("face",)

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        self.head = nn.Linear(in_channels, num_classes)

    def forward(self, views):
        if self.training:
            os.kill(os.getpid(), signal.SIGKILL)
        return ModelOutput(self.head(views["face"].mean((2, 3))))


@mertk.hookimpl
def register_models(register):
    register("dying", Dying)
'''


@case("worker_dies_logged", "#9 a worker that always dies, no retries left: the error in run.log, a clear exit, "
      "no leaked-semaphore warning")
def _(w: World) -> str:
    job = w.dying_worker()
    try:
        code = job["process"].wait(180)
    except subprocess.TimeoutExpired:
        os.killpg(job["process"].pid, signal.SIGKILL)
        raise Broken("the run did not end within 180 s of its worker's death") from None
    job["output"].close()
    output = job["output_path"].read_text(encoding="utf-8", errors="replace")
    detail = refused(Outcome([], code, output), "died")
    expect("leaked semaphore" not in output, "'leaked semaphore' warnings after the worker was killed")
    log_path = job["run"] / "run.log"
    log = log_path.read_text(encoding="utf-8").lower() if log_path.is_file() else ""
    expect("died" in log, "run.log does not say a worker died (the message sends the user there)")
    return detail


# ----------------------------------------------------------------- item 11: YAML


@case("duplicate_yaml_key", "#11 'seed: 1' then 'seed: 2': an error naming the key")
def _(w: World) -> str:
    folder = w.fresh("dup-key")
    config = text_config(w, folder, "seed: 2\n")  # the base already has seed: 1
    return refused(cli("config", "check", config), "seed")


@case("stack_folds_off", "#11 train.stack_folds: off (as the docs write it) is accepted")
def _(w: World) -> str:
    folder = w.fresh("stack-off")
    data = w.config_data(folder)
    data.pop("train")
    path = folder / "c.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False)
                    + "train:\n  epochs: 2\n  batch_size: 8\n  stack_folds: off\n", encoding="utf-8")
    out = cli("config", "show", path, "--resolved")
    succeeded(out)
    resolved = yaml.safe_load(out.output)
    expect(resolved["train"]["stack_folds"] in ("off", False), f"stack_folds is {resolved['train']['stack_folds']!r}")
    return "accepted"


@case("string_field_no", "#11 name: no (a YAML 1.1 bool) in a string field means the string 'no'")
def _(w: World) -> str:
    folder = w.fresh("name-no")
    data = w.config_data(folder)
    data.pop("name")
    path = folder / "c.yaml"
    path.write_text("name: no\n" + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = cli("config", "show", path, "--resolved")
    succeeded(out)
    name = yaml.safe_load(out.output)["name"]
    expect(name == "no", f"name became {name!r}")
    return "name is 'no'"


# ----------------------------------------------------------------- item 12: file modes


@case("file_modes_umask_022", "#12 run-folder files (config, metrics, predictions, model/) readable by the lab")
def _(w: World) -> str:
    run = w.done
    wanted = 0o666 & ~0o022
    paths = ["config.yaml", "metrics.json", "predictions.csv", "problems.csv", "run.log", "report.md",
             "folds/000.json", "model/model.json", "model/weights.safetensors", "confusion_matrix.png"]
    wrong = [f"{p} {oct(os.stat(run / p).st_mode & 0o777)}" for p in paths
             if (run / p).exists() and os.stat(run / p).st_mode & 0o777 != wanted]
    dirs = [d for d in ("model", "folds") if (run / d).is_dir() and os.stat(run / d).st_mode & 0o777 != 0o755]
    wrong += [f"{d}/ {oct(os.stat(run / d).st_mode & 0o777)}" for d in dirs]
    expect(not wrong, f"not {oct(wanted)} (0755 folders) under umask 022: {', '.join(wrong)}")
    return "modes as the umask gives"


# ----------------------------------------------------------------- item 13: smaller


@case("inspect_fatal_exit_code", "#13 datasets inspect with a fatal problem (on_error: stop) exits non-zero")
def _(w: World) -> str:
    folder = w.fresh("inspect-fatal")
    rows = manifest_rows()
    rows[0]["flow"] = str(w.data / "flows" / "no_such.png")
    shutil.copytree(w.data / "flows", folder / "flows")
    manifest = write_manifest(folder / "manifest.csv", rows)
    config = w.config(folder, dataset={"path": str(manifest)})
    return refused(cli("datasets", "inspect", config), "no_such.png")


@case("inspect_no_usable_samples", "#13 datasets inspect with no usable sample exits non-zero (also with skip)")
def _(w: World) -> str:
    folder = w.fresh("inspect-none")
    rows = [{**r, "flow": f"missing/{r['sample']}.png"} for r in manifest_rows()]
    manifest = write_manifest(folder / "manifest.csv", rows)
    config = w.config(folder, on_error="skip", dataset={"path": str(manifest)})
    return refused(cli("datasets", "inspect", config), "usable")


@case("no_onset_apex_columns", "#13 frames rows without onset/apex columns: the warning says onset too")
def _(w: World) -> str:
    folder = w.fresh("no-columns")
    write_frames(folder / "clips" / "c1", face_frames())
    header = ["sample", "subject", "dataset", "label", "frames"]
    manifest = write_manifest(folder / "manifest.csv", [{"sample": "c1", "subject": "s1", "dataset": "alpha",
                                                          "label": "surprise", "frames": "clips/c1"}], header)
    config = w.config(folder, dataset={"path": str(manifest)})
    out = cli("datasets", "inspect", config)
    no_traceback(out)
    warnings = [line.split("]:", 1)[-1] for line in out.output.splitlines() if "warning" in line.lower()]
    expect(any("onset" in line.lower() for line in warnings), f"no warning about the onset: {warnings}")
    return "warned about the onset"


@case("semicolon_csv", "#13 a semicolon-delimited manifest: name the file and hint at the delimiter")
def _(w: World) -> str:
    folder = w.fresh("semicolon")
    shutil.copytree(w.data / "flows", folder / "flows")
    manifest = write_manifest(folder / "semi_manifest.csv", manifest_rows(), delimiter=";")
    config = w.config(folder, dataset={"path": str(manifest)})
    out = cli("datasets", "inspect", config)
    detail = refused(out, "semi_manifest.csv")
    expect(re.search(r"semicolon|delimit|separat|';'|\";\"", out.output, re.I), f"no hint: {out.brief()}")
    return detail


@case("frames_path_is_file", "#13 a frames path that is a file is not called 'does not exist'")
def _(w: World) -> str:
    lines = [line for line in w.stop_run[0].output.splitlines() if "bad_isfile" in line]
    expect(lines, "the sample is not named")
    expect(not any("does not exist" in line for line in lines), f"called missing: {lines[0]}")
    return lines[0].strip()[:110]


@case("one_class_data", "#13 data with one class must not train silently (UF1 0)")
def _(w: World) -> str:
    folder = w.fresh("one-class")
    shutil.copytree(w.data / "flows", folder / "flows")
    rows = [{**r, "label": "negative"} for r in manifest_rows()]
    manifest = write_manifest(folder / "manifest.csv", rows)
    config = w.config(folder, dataset={"path": str(manifest)})
    return refused(cli("run", config, "--run-dir", folder / "run"), "class")


@case("preprocess_problems_once", "#13 preprocess prints each problem once")
def _(w: World) -> str:
    folder = w.fresh("preprocess-once")
    shutil.copytree(w.data / "flows", folder / "flows")
    rows = manifest_rows()[:6]
    rows[0]["flow"] = "flows/vanished_flow.png"
    manifest = write_manifest(folder / "manifest.csv", rows)
    config = w.config(folder, on_error="skip", dataset={"path": str(manifest)})
    out = cli("preprocess", config)
    succeeded(out)
    n = out.output.count("vanished_flow.png")
    expect(n == 1, f"the problem is printed {n} times")
    return "printed once"


@case("docs_attention_example", "#13 docs/configs.md's --set model.attention=NAME works or says it needs a plugin")
def _(w: World) -> str:
    from mertk.plugins import load_components

    text = (REPO / "docs" / "configs.md").read_text(encoding="utf-8")
    names = {info.name for info in load_components()["attention"]}
    bad = []
    for match in re.finditer(r"--set model\.attention=([\w-]+)", text):
        around = text[max(0, match.start() - 400): match.end() + 400].lower()
        if match.group(1) not in names and "plugin" not in around:
            bad.append(match.group(1))
    expect(not bad, f"docs/configs.md uses attention {bad} which is not installed, without saying it needs a plugin")
    return "every example works or names its plugin"


# ----------------------------------------------------------------- skippable data problems (on_error: skip/stop)


def _skipped(w: World, case_name: str) -> str:
    out, run = w.skip_run
    sample = World.BAD_ROWS[case_name]
    succeeded(out)
    expect((run / "metrics.json").is_file(), "the run did not finish (no metrics.json)")
    rows = [r for r in problems_csv(run) if r["sample"].endswith("/" + sample)]
    expect(rows, f"problems.csv does not list {sample}")
    expect(any(r["fatal"] == "True" for r in rows), f"{sample} is listed but not as skipped")
    predictions = (run / "predictions.csv").read_text(encoding="utf-8")
    expect(sample not in predictions, f"{sample} was predicted although it is bad")
    return f"skipped: {rows[0]['message'][:90]}"


for _name, _what in [("frames_folder_missing", "a manifest row whose frames folder is missing"),
                     ("frame_corrupt", "a corrupt frame image (random bytes)"),
                     ("frame_empty", "an empty (0-byte) frame image"),
                     ("no_face", "a clip with no face in it"),
                     ("apex_outside_clip", "an apex frame outside the clip"),
                     ("flow_image_corrupt", "a corrupt precomputed flow image"),
                     ("frames_path_is_file", "a frames path that is a file")]:
    case(f"skip_{_name}", f"on_error: skip: {_what} is reported in problems.csv, the run completes")(
        functools.partial(_skipped, case_name=_name))


@case("stop_lists_every_problem", "on_error: stop: one refusal naming every bad sample, nothing trained")
def _(w: World) -> str:
    out, run = w.stop_run
    detail = refused(out, "on_error")
    listed = out.output + "".join(r["sample"] for r in problems_csv(run))
    missing = [s for s in World.BAD_ROWS.values() if s not in listed]
    expect(not missing, f"not named: {missing}")
    expect(not (run / "folds").exists() or not any((run / "folds").iterdir()), "folds were trained")
    return detail


@case("no_face_stop", "on_error: stop with a faceless clip: the sample and the fix are named")
def _(w: World) -> str:
    out, _ = w.stop_run
    detail = refused(out, "bad_noface")
    lines = [line.split("]:", 1)[-1] for line in error_text(out.output).splitlines() if "bad_noface" in line]
    expect(any("face" in line.lower() for line in lines), f"the reason (no face) is not given: {lines}")
    return detail


@case("no_face_default_detector", "a faceless clip under the default detector (whole-frame fallback) is reported")
def _(w: World) -> str:
    folder = w.fresh("no-face-default")
    noise_frames(folder / "clips" / "static_noise")
    manifest = write_manifest(folder / "manifest.csv", [{"sample": "static_noise", "subject": "s1", "dataset": "alpha",
                                                         "label": "surprise", "frames": "clips/static_noise",
                                                         "onset": "1", "apex": "2", "offset": "3"}])
    config = w.config(folder, on_error="skip", dataset={"path": str(manifest)})
    out = cli("preprocess", config)
    no_traceback(out)
    lines = [line for line in out.output.splitlines() if "static_noise" in line
             and "face" in line.split("]:", 1)[-1].lower()]
    expect(lines, "the clip was preprocessed without a word that no face was found in it")
    return lines[0].strip()[:110]


@case("unknown_label", "a manifest label that is no class: name sample, label and the fix")
def _(w: World) -> str:
    folder = w.fresh("unknown-label")
    shutil.copytree(w.data / "flows", folder / "flows")
    rows = manifest_rows()
    rows[3]["label"] = "angry"
    manifest = write_manifest(folder / "manifest.csv", rows)
    config = w.config(folder, dataset={"path": str(manifest)})
    return refused(cli("run", config, "--run-dir", folder / "run"), "angry", rows[3]["sample"], "class_names")


@case("manifest_missing", "dataset.path names no file")
def _(w: World) -> str:
    folder = w.fresh("manifest-missing")
    config = w.config(folder, dataset={"path": str(folder / "nowhere.csv")})
    return refused(cli("run", config), "nowhere.csv")


@case("manifest_missing_column", "a manifest without a 'label' column")
def _(w: World) -> str:
    folder = w.fresh("no-label-column")
    header = ["sample", "subject", "dataset", "flow"]
    manifest = write_manifest(folder / "manifest.csv", manifest_rows(), header)
    config = w.config(folder, dataset={"path": str(manifest)})
    return refused(cli("run", config), "label", "manifest.csv")


@case("manifest_blank_subject", "a manifest row with an empty subject cell (stop): the row is named")
def _(w: World) -> str:
    folder = w.fresh("blank-subject")
    shutil.copytree(w.data / "flows", folder / "flows")
    rows = manifest_rows()
    rows[4]["subject"] = ""
    manifest = write_manifest(folder / "manifest.csv", rows)
    config = w.config(folder, dataset={"path": str(manifest)})
    return refused(cli("datasets", "inspect", config), "row 6")


def write_casme2(root: Path, clips: Sequence[tuple[int, str, int, Any, int, str]]) -> Path:
    """A CASME II release: ``CASME2_RAW_selected/subNN/clip/imgN.jpg`` and its coding sheet."""
    import openpyxl

    frames = face_frames(1)
    for subject, clip, on, _, off, _ in clips:
        folder = root / "CASME2_RAW_selected" / f"sub{subject:02d}" / clip
        folder.mkdir(parents=True, exist_ok=True)
        jpg = folder / f"img{on}.jpg"
        write_frames(folder, frames)
        (folder / "img1.jpg").rename(jpg)
        for n in range(on + 1, off + 1):
            shutil.copyfile(jpg, folder / f"img{n}.jpg")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion"])
    for s, c, on, ap, off, e in clips:
        sheet.append([s, c, None, on, ap, off, None, "AU4", e])
    book.save(root / "CASME2-coding-20140508.xlsx")
    return root


@case("casme2_clip_folder_missing", "a CASME II coding-sheet row whose clip folder is absent: named, non-zero exit")
def _(w: World) -> str:
    folder = w.fresh("casme2")
    root = write_casme2(folder / "CASME2", [(1, "EP01_01", 1, 2, 3, "happiness"), (1, "EP02_01", 1, 2, 3, "surprise"),
                                            (2, "EP03_01", 1, 2, 3, "disgust")])
    shutil.rmtree(root / "CASME2_RAW_selected" / "sub02" / "EP03_01")
    data = {**w.config_data(folder), "dataset": {"name": "casme2", "root": str(root)}}
    return refused(cli("datasets", "inspect", write_config(folder / "c.yaml", data)), "EP03_01")


# ----------------------------------------------------------------- careless configs


@case("component_typo", "an unknown component name: the closest one is suggested")
def _(w: World) -> str:
    return refused(check_config(w, "model-typo", "model.name=ststnett"), "model", "ststnet'")


@case("component_argument_typo", "an unknown component argument: the closest one is suggested")
def _(w: World) -> str:
    return refused(check_config(w, "arg-typo", "model.hiden=8"), "model.hiden", "'hidden'")


@case("unknown_top_key", "an unknown top-level key (trian): the key is named with a suggestion")
def _(w: World) -> str:
    folder = w.fresh("top-key")
    return refused(cli("config", "check", text_config(w, folder, "trian: {epochs: 3}\n")), "trian", "'train'")


@case("unknown_nested_key", "an unknown nested key (train.epohcs)")
def _(w: World) -> str:
    return refused(check_config(w, "nested-key", "train.epohcs=3"), "train.epohcs", "'epochs'")


@case("wrong_type", "train.epochs: many")
def _(w: World) -> str:
    return refused(check_config(w, "wrong-type", "train.epochs=many"), "train.epochs", "many")


@case("missing_required_key", "a config without a dataset")
def _(w: World) -> str:
    folder = w.fresh("no-dataset")
    data = w.config_data(folder)
    data.pop("dataset")
    data["extends"] = "dual-atme.yaml"
    config = write_config(folder / "c.yaml", data)
    out = cli("config", "check", config)
    if out.code == 0:  # dual-atme.yaml brings the demo data: not a mistake
        data.pop("extends")
        data["model"] = {"name": "ststnet"}
        out = cli("config", "check", write_config(folder / "c.yaml", data))
    return refused(out, "dataset")


@case("missing_config_file", "config check of a file that does not exist")
def _(w: World) -> str:
    return refused(cli("config", "check", w.root / "nope_config.yaml"), "nope_config.yaml")


@case("bundled_name_typo", "a bundled config name with a typo: suggestion")
def _(w: World) -> str:
    return refused(cli("config", "check", "stsnet.yaml"), "stsnet.yaml", "ststnet.yaml")


@case("extends_loop", "a.yaml extends b.yaml extends a.yaml")
def _(w: World) -> str:
    folder = w.fresh("extends-loop")
    (folder / "loop_a.yaml").write_text("extends: loop_b.yaml\nname: a\n")
    (folder / "loop_b.yaml").write_text("extends: loop_a.yaml\nname: b\n")
    return refused(cli("config", "check", folder / "loop_a.yaml"), "loop_", "cycle")


@case("extends_missing", "extends names a file that does not exist")
def _(w: World) -> str:
    folder = w.fresh("extends-missing")
    (folder / "c.yaml").write_text("extends: not_there.yaml\nname: x\n")
    return refused(cli("config", "check", folder / "c.yaml"), "not_there.yaml")


@case("invalid_yaml", "a YAML syntax error: file and line named")
def _(w: World) -> str:
    folder = w.fresh("bad-yaml")
    path = text_config(w, folder, "model:\n  name: ststnet\n   view: face\n")
    return refused(cli("config", "check", path), "c.yaml", "line")


@case("config_not_mapping", "a config whose top level is a list")
def _(w: World) -> str:
    folder = w.fresh("list-config")
    (folder / "c.yaml").write_text("- name: x\n- seed: 1\n")
    return refused(cli("config", "check", folder / "c.yaml"), "c.yaml", "mapping")


@case("set_bad_syntax", "--set without '=': the option and the fix")
def _(w: World) -> str:
    return refused(check_config(w, "set-syntax", "train.epochs"), "--set", "key.path=value")


@case("set_into_scalar", "--set name.x=1 where name is a string")
def _(w: World) -> str:
    return refused(check_config(w, "set-scalar", "name.x=1"), "name")


@case("missing_env_variable", "${MERTK_...} that is not set")
def _(w: World) -> str:
    folder = w.fresh("env")
    os.environ.pop("MERTK_HARNESS_UNSET", None)
    config = w.config(folder, dataset={"path": "${MERTK_HARNESS_UNSET}/manifest.csv"})
    return refused(cli("config", "check", config), "MERTK_HARNESS_UNSET")


@case("plugin_file_missing", "--plugin naming a file that does not exist")
def _(w: World) -> str:
    return refused(cli("--plugin", w.root / "no_plugin.py", "components"), "no_plugin.py")


@case("plugin_syntax_error", "--plugin with a Python syntax error: the file is named, no traceback")
def _(w: World) -> str:
    path = w.fresh("plugin-syntax") / "broken_plugin.py"
    path.write_text("import mertk\n\ndef oops(:\n    pass\n")
    return refused(cli("--plugin", path, "components"), "broken_plugin.py")


# ----------------------------------------------------------------- careless run folders


@case("resume_non_run_folder", "--resume of a folder that is not a run (the data folder): refused, untouched")
def _(w: World) -> str:
    before = snapshot(w.data)
    detail = refused(cli("run", "--resume", w.data), w.data.name)
    expect(snapshot(w.data) == before, "the folder was written to")
    return detail


@case("resume_missing_folder", "--resume of a folder that does not exist")
def _(w: World) -> str:
    return refused(cli("run", "--resume", w.root / "no_run_here"), "no_run_here")


@case("run_dir_not_empty", "--run-dir pointing at a non-empty folder: refused, --resume suggested")
def _(w: World) -> str:
    folder = w.fresh("run-dir-full")
    (folder / "run").mkdir()
    (folder / "run" / "notes.txt").write_text("mine\n")
    detail = refused(cli("run", w.config(folder), "--run-dir", folder / "run"), "--resume")
    expect(sorted(p.name for p in (folder / "run").iterdir()) == ["notes.txt"], "the folder was written to")
    return detail


# ---------------------------------------------------------------------------------------------- running


@dataclass
class Result:
    case: Case
    held: bool
    detail: str
    seconds: float


def run_case(c: Case, world: World) -> Result:
    start = time.perf_counter()
    try:
        detail, held = c.check(world), True
    except Broken as exc:
        detail, held = str(exc), False
    except Exception as exc:  # the harness met something it did not plan for: a failure of this case
        last = traceback.extract_tb(exc.__traceback__)[-1]
        detail, held = f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})", False
    return Result(c, held, " ".join(detail.split()), time.perf_counter() - start)


def select(pattern: str | None = None) -> list[Case]:
    return [c for c in CASES if pattern is None or pattern in c.name]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="pattern", help="only cases whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--list", action="store_true", help="list the cases and what each covers")
    parser.add_argument("-v", dest="verbose", action="store_true", help="show each case's seconds")
    args = parser.parse_args(argv)
    cases = select(args.pattern)
    if not cases:
        print(f"no case name contains {args.pattern!r}; see --list", file=sys.stderr)
        return 2
    if args.list:
        for c in cases:
            print(f"{c.name:<38} {c.covers}")
        return 0
    root = Path(tempfile.mkdtemp(prefix="mertk-bad-inputs-"))
    world = World(root)
    if any(c.name == "worker_dies_logged" for c in cases):
        world.start()
    held = 0
    try:
        for c in cases:
            result = run_case(c, world)
            held += result.held
            seconds = f"{result.seconds:5.1f}s  " if args.verbose else ""
            print(f"{'HELD' if result.held else 'BROKEN':<6}  {seconds}{c.name:<38} {result.detail}", flush=True)
    finally:
        world.close()
        if args.keep:
            print(f"planted files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"held {held}/{len(cases)}")
    return 0 if held == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
