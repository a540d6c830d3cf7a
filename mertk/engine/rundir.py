"""The run folder: everything a run writes, written as it goes so that a run can resume.

Layout::

    RUN_DIR/
      config.yaml        the merged config, written once (``mertk run --resume RUN_DIR`` reloads it)
      fingerprint.json   what the results depend on: config less where it runs, versions, data
                         (see :mod:`mertk.engine.fingerprint`; a resume that differs is refused)
      environment.json   versions, device, threads, arithmetic, command line
      problems.csv       data problems: skipped samples and warnings (file, row, sample, fix)
      folds/000.json     one file per finished fold: test ids, labels, predictions, history
      predictions.csv    every finished fold's test predictions (rewritten after each fold)
      history.csv        loss terms, training accuracy, learning rate and seconds per fold and epoch
                         (appended after every epoch; see :mod:`mertk.engine.history`)
      checkpoints/       per-fold weights (``output.checkpoints: true``)
      metrics.json       overall and per-dataset scores, once all folds are done
      report.md, confusion_matrix.png, per_class.png, training_curves.png
      run.log            the progress lines printed during the run
      run.lock           while a process works in the folder: who (see :mod:`mertk.engine.runlock`)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mertk.api import Problem
from mertk.engine.runlock import RunLock
from mertk.errors import MertkError
from mertk.files import write_csv_atomic, write_text_atomic
from mertk.writable import check_writable_dir

__all__ = ["RunFolder", "DamagedFold", "FINGERPRINT", "environment_info"]

#: The file of the run's fingerprint (:mod:`mertk.engine.fingerprint`).
FINGERPRINT = "fingerprint.json"


class DamagedFold(MertkError):
    """A ``folds/NNN.json`` that is not a whole fold record (truncated, not JSON, fields missing)."""


def _fold_damage(record: Any) -> str | None:
    """What makes ``record`` unusable as a finished fold's record, or ``None`` when it is whole."""
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not a fold record"
    lists = ("test_ids", "y_true", "history") + (("y_pred", "probs") if record.get("test_ids") else ())
    missing = [k for k in ("name", "seconds", *lists) if k not in record]
    if missing:
        return f"lacks {', '.join(missing)}"
    if not all(isinstance(record[k], list) for k in lists):
        return "has a field of the wrong type"
    if len({len(record[k]) for k in lists if k != "history"}) > 1:
        return "has test ids, labels and predictions of different lengths"
    return None


class RunFolder:
    """Reads and writes the files of one run folder (see the module docs for the layout).

    :meth:`create` and :meth:`open` lock the folder for this process (:mod:`mertk.engine.runlock`)
    until :meth:`release`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock: RunLock | None = None
        #: Put before every line this run prints (not in ``run.log``): its name, when several
        #: runs print at once (``mertk bench``).
        self.prefix = ""

    # ------------------------------------------------------------------ creation

    @classmethod
    def create(cls, parent: str | Path, name: str, run_dir: Path | None = None) -> RunFolder:
        """A new run folder: ``run_dir`` (must be empty or absent), else ``parent/name-timestamp``.

        Raises:
            MertkError: ``run_dir`` is not empty, or the folder cannot be written (a read-only
                place, a file in the way), before anything is created.
        """
        check_writable_dir(run_dir or parent, what="the run folder",
                           fix="choose another --run-dir" if run_dir is not None else
                           "set output.dir (in the config, or --set output.dir=PATH) to a folder you can write")
        if run_dir is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            run_dir = Path(parent) / f"{name}-{stamp}"
            suffix = 1
            while run_dir.exists():
                suffix += 1
                run_dir = Path(parent) / f"{name}-{stamp}-{suffix}"
        elif run_dir.exists() and any(run_dir.iterdir()):
            raise MertkError(f"{run_dir}: the run folder is not empty; pass --resume {run_dir} to continue "
                             "that run, or choose another --run-dir")
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(run_dir).locked()

    @classmethod
    def open(cls, run_dir: Path) -> RunFolder:
        """An existing run folder to resume."""
        if not (Path(run_dir) / "config.yaml").is_file():
            raise MertkError(f"{run_dir}: not a mertk run folder (no config.yaml); pass the folder `mertk run` printed")
        check_writable_dir(run_dir, what="the resumed run's folds and results",
                           fix="make the folder writable, or copy it to a place you can write and resume the copy")
        return cls(Path(run_dir)).locked()

    def locked(self) -> RunFolder:
        """This folder, locked for this process; refuses (naming the holder) when another one has it."""
        self.lock = RunLock.acquire(self.path)
        return self

    def release(self) -> None:
        """Release the folder's lock (a run calls it however it ends)."""
        if self.lock is not None:
            self.lock.release()

    # ------------------------------------------------------------------ files

    @property
    def folds_dir(self) -> Path:
        return self.path / "folds"

    def save_config(self, data: Mapping[str, Any]) -> None:
        """The merged plain config mapping (loadable with :func:`mertk.config.load_config`), written
        when the run is created and never again."""
        write_text_atomic(self.path / "config.yaml", yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True))

    def saved_config(self) -> dict[str, Any]:
        """``config.yaml`` as a plain mapping."""
        data = yaml.safe_load((self.path / "config.yaml").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def save_fingerprint(self, fingerprint: Mapping[str, Any]) -> None:
        """Write ``fingerprint.json`` (:mod:`mertk.engine.fingerprint`)."""
        write_text_atomic(self.path / FINGERPRINT, json.dumps(dict(fingerprint), indent=1))

    def load_fingerprint(self) -> dict[str, Any] | None:
        """The recorded fingerprint, or ``None`` for a run folder made before fingerprints.

        Raises:
            MertkError: the file is damaged, so nothing can be checked.
        """
        path = self.path / FINGERPRINT
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            data = exc
        if not isinstance(data, dict):
            raise MertkError(f"{path}: damaged ({data}), so resuming cannot check that it continues the same "
                             f"experiment. Fix: start a new run (`mertk run {self.path / 'config.yaml'}`)")
        return data

    def save_environment(self, info: Mapping[str, Any]) -> None:
        name = "environment.json"
        if (self.path / name).exists():  # a resumed run keeps the first one and adds its own
            name = f"environment-resume-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
        write_text_atomic(self.path / name, json.dumps(dict(info), indent=2, default=str))

    def save_problems(self, problems: Sequence[Problem]) -> None:
        """All data problems (skipped samples and warnings) as ``problems.csv``."""
        write_csv_atomic(self.path / "problems.csv", ["fatal", "sample", "file", "row", "message", "fix"],
                         ([p.fatal, p.sample or "", p.file, "" if p.row is None else p.row, p.message, p.fix]
                          for p in problems))

    def save_preprocessing(self, ids: Sequence[str], records: Sequence[Mapping[str, Any]]) -> None:
        """How each kept sample was preprocessed, as ``preprocessing.csv`` (face detector used,
        onset and apex positions, where the apex came from, where the landmarks came from)."""
        columns = ["face_method", "onset", "apex", "apex_source", "source", "landmarks_source"]
        write_csv_atomic(self.path / "preprocessing.csv", ["sample", *columns],
                         ([sample, *("" if record.get(c) is None else record[c] for c in columns)]
                          for sample, record in zip(ids, records)))

    def print_result(self, text: str) -> None:
        """Print the run's result lines: on stdout for a run that prints alone (scripts read its
        last line, the folder); with :attr:`prefix` before each line, on stderr among the progress
        lines of the other runs, when several print at once."""
        if self.prefix:
            print("\n".join(self.prefix + line for line in text.splitlines()), file=sys.stderr, flush=True)
        else:
            print(text, flush=True)

    def log(self, line: str, *, echo: bool = True) -> None:
        """Append a line to ``run.log``, and print it (to stderr) unless ``echo`` is false."""
        if echo:
            print(self.prefix + line, file=sys.stderr, flush=True)
        with open(self.path / "run.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    # ------------------------------------------------------------------ folds

    def fold_path(self, index: int) -> Path:
        return self.folds_dir / f"{index:03d}.json"

    def load_fold(self, index: int) -> dict[str, Any] | None:
        """A finished fold's record, or ``None`` when it has not finished.

        Raises:
            DamagedFold: the file is not a whole fold record (cut short, edited, not JSON).
        """
        path = self.fold_path(index)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DamagedFold(f"{path}: damaged, not a whole fold record ({exc})") from None
        damage = _fold_damage(record)
        if damage is not None:
            raise DamagedFold(f"{path}: damaged, {damage}")
        return record

    def set_aside(self, path: Path) -> Path:
        """Rename a damaged file to ``NAME.damaged`` (kept to look at, never read again); returns the new path."""
        target = path.with_name(path.name + ".damaged")
        os.replace(path, target)
        return target

    def save_fold(self, index: int, record: Mapping[str, Any]) -> None:
        """Write a finished fold atomically (a crash never leaves half a fold)."""
        self.folds_dir.mkdir(exist_ok=True)
        write_text_atomic(self.fold_path(index), json.dumps(dict(record)))

    def write_predictions(self, folds: Sequence[Mapping[str, Any]], class_names: Sequence[str],
                          info: Mapping[str, Mapping[str, str]]) -> None:
        """``predictions.csv`` from the finished folds' records (one row per test sample).

        ``class_names`` are the task's output names. A class task's ``label`` and ``prediction`` are
        class indices; a multi-label task's are its 0/1 decisions (``1 0 1``), and ``true_class`` /
        ``predicted_class`` the outputs set, joined by ``+`` (``AU1+AU12``; empty when none).
        """
        header = ["sample", "subject", "dataset", "fold", "label", "prediction", "true_class", "predicted_class",
                  *[f"p_{c}" for c in class_names]]

        def named(y: Any) -> tuple[Any, str]:
            if isinstance(y, list):
                return " ".join(str(v) for v in y), "+".join(c for c, v in zip(class_names, y) if v)
            return y, class_names[y]

        rows = ([sid, info.get(sid, {}).get("subject", ""), info.get(sid, {}).get("dataset", ""), fold["name"],
                 named(y)[0], named(p)[0], named(y)[1], named(p)[1], *[f"{q:.5f}" for q in probs]]
                for fold in folds
                for sid, y, p, probs in zip(fold["test_ids"], fold["y_true"], fold["y_pred"], fold["probs"]))
        write_csv_atomic(self.path / "predictions.csv", header, rows)

    def save_metrics(self, metrics: Mapping[str, Any]) -> None:
        write_text_atomic(self.path / "metrics.json", json.dumps(dict(metrics), indent=2))


def environment_info(device: Any, threads: int, arithmetic: str = "fp32") -> dict[str, Any]:
    """Versions of Python and the main libraries, the device, the training arithmetic and the command line.

    ``arithmetic`` is what ``train.precision`` resolved to on this machine (``"fp32"`` or
    ``"bf16 autocast"``): ``auto`` depends on the hardware, so the run folder records it.
    """
    import importlib.metadata as md

    def version(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return ""

    import torch

    info: dict[str, Any] = {
        "time": _dt.datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor(),
        "command": sys.argv,
        "device": str(device),
        "threads": threads,
        "arithmetic": arithmetic,
        "cpu_count": os.cpu_count(),
        "packages": {n: version(n) for n in ("mertk", "torch", "torchvision", "timm", "kornia", "numpy",
                                            "opencv-contrib-python-headless", "dlib-bin", "scikit-learn")},
    }
    if getattr(device, "type", "") == "cuda":
        info["cuda"] = {"name": torch.cuda.get_device_name(device), "version": torch.version.cuda}
    return info
