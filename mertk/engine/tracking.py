"""What watches a run train: ``history.csv`` and the trackers of ``output.trackers``.

:class:`RunTracking` is the engine's one handle on both. It builds the trackers before any work
(so a missing optional package fails the run at once, with the fix) and starts them before any
data is loaded: a tracker the user asked for that cannot start is an error naming it, before any
fold trains, rather than a run that quietly goes untracked. Each started tracker's line saying
where the run is tracked and how to open it is printed once. Then every event goes to each
tracker (:class:`mertk.api.Tracker`); a tracker that raises from then on is named in one warning
line and dropped for the rest of the run: tracking never stops a started run or loses its
results, which the run folder holds whatever happens to a tracker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mertk.api import RunResult, RunStart, Tracker
from mertk.config import LoadedConfig
from mertk.engine.history import HISTORY_FILE, HistoryFile, epoch_values, mean_curves
from mertk.engine.rundir import RunFolder
from mertk.errors import MertkError
from mertk.registry import Components, ComponentSpec

__all__ = ["RunTracking", "flatten_config", "flat_metrics", "RESULT_FILES"]

#: Files of a finished run folder passed to trackers as artifacts, when they exist.
RESULT_FILES = ("report.md", "metrics.json", "history.csv", "predictions.csv", "config.yaml",
                "confusion_matrix.png", "per_class.png", "per_au.png", "training_curves.png")
_IMAGES = ("confusion_matrix", "per_class", "per_au", "training_curves")


def flatten_config(data: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as dotted keys with text values: ``{"train": {"epochs": 3}}`` ->
    ``{"train.epochs": "3"}``; list items are numbered (``loss.0.name``)."""
    items: Any = data.items() if isinstance(data, Mapping) else enumerate(data) if isinstance(data, list) else None
    if items is None or not data:
        return {prefix.rstrip("."): data if isinstance(data, str) else json.dumps(data)}
    out: dict[str, str] = {}
    for key, value in items:
        out.update(flatten_config(value, f"{prefix}{key}."))
    return out


def _scalars(scores: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of one slice's scores (``uf1``, ``n``, ...), and one level of named numbers below
    them (``per_au/AU4``); matrices and counts per output are left out."""
    out: dict[str, float] = {}
    for key, value in scores.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
        elif key.startswith("per_") and isinstance(value, Mapping):
            out.update({f"{prefix}{key}/{k}": float(v) for k, v in value.items()})
    return out


def flat_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The task's scores overall (``uf1``, ``uar``, ``accuracy``, ``n``; for action units ``au_f1``,
    ``n`` and ``per_au/AU4``) and per source dataset (``"{dataset}/uf1"``)."""
    out = _scalars(metrics["overall"])
    for group, scores in sorted(metrics.get("per_group", {}).items()):
        out.update(_scalars(scores, f"{group}/"))
    return out


def _fold_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    n = len(record["y_true"])
    correct = sum(int(a == b) for a, b in zip(record["y_true"], record["y_pred"]))
    out = {"test_accuracy": correct / n if n else 0.0, "test_n": float(n),
           "train_size": float(record.get("train_size", 0)), "seconds": float(record.get("seconds", 0.0))}
    if record.get("history"):
        last = record["history"][-1]
        out.update(final_loss=float(last["loss"]), final_accuracy=float(last["accuracy"]))
    return out


def _cannot_start(name: str, exc: Exception, folder: RunFolder) -> MertkError:
    """The error for tracker ``name`` that raised ``exc`` from ``start``: a
    :class:`MertkError`'s message as the tracker wrote it (with its fix), else the exception's
    type and first line, and what to do."""
    if isinstance(exc, MertkError):
        reason = str(exc)
    else:
        lines = str(exc).strip().splitlines()
        reason = (f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__) + (
            f". Fix: correct its arguments in output.trackers, or remove {name!r} from output.trackers")
    return MertkError(f"tracker {name!r} cannot start: {reason.rstrip('.')}. Nothing was trained: once the "
                      f"tracker works, `mertk run --resume {folder.path}` starts this run")


class RunTracking:
    """``history.csv`` plus the configured trackers of one run (see the module docs).

    Args:
        trackers: ``(name, tracker)`` pairs, in config order.
    """

    def __init__(self, trackers: Sequence[tuple[str, Tracker]] = ()) -> None:
        self.trackers = list(trackers)
        self.history: HistoryFile | None = None
        self.log: Callable[[str], None] = print

    @classmethod
    def build(cls, loaded: LoadedConfig, components: Components) -> RunTracking:
        """Build the trackers of ``output.trackers``.

        Raises:
            MertkError: a tracker cannot be built (e.g. its optional package is not installed)
                or does not have the tracker methods.
        """
        file = Path(loaded.file).name
        trackers = []
        for i, spec in enumerate(loaded.config.output.trackers):
            name = ComponentSpec.of(spec, kind="tracker").name
            tracker = components.build("tracker", spec, file=file, key=f"output.trackers.{i}")
            if not isinstance(tracker, Tracker):
                missing = [m for m in ("start", "start_fold", "log_epoch", "end_fold", "finish", "close")
                           if not callable(getattr(tracker, m, None))]
                raise MertkError(f"{file}: output.trackers.{i}: tracker {name!r} has no method(s) "
                                 f"{', '.join(missing)}; see the tracker contract (mertk.api.Tracker)")
            trackers.append((name, tracker))
        return cls(trackers)

    def _call(self, method: str, *args: Any) -> None:
        for name, tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # whatever a tracker raises, the run goes on
                self.trackers.remove((name, tracker))
                self.log(f"warning: tracker {name!r} failed in {method} ({type(exc).__name__}: {exc}); the run goes "
                         "on without it, and its run folder keeps every result")
                if method != "close":
                    try:
                        tracker.close("failed")
                    except Exception:  # it already failed once; one warning is enough
                        pass

    def start(self, loaded: LoadedConfig, folder: RunFolder, *, resumed: bool) -> None:
        """The run starts in ``folder`` (after its config and environment are saved): each tracker
        starts and its line saying where it tracks the run is printed.

        Raises:
            MertkError: a tracker cannot start (named, with its reason); the trackers started
                before it are closed as failed, and the error goes to ``run.log``.
        """
        self.history = HistoryFile(folder.path / HISTORY_FILE)
        self.log = folder.log
        environments = sorted(folder.path.glob("environment*.json"), key=lambda p: p.stat().st_mtime)
        environment = json.loads(environments[-1].read_text(encoding="utf-8")) if environments else {}
        resolved = loaded.config.model_dump(mode="json")  # every key, defaults included
        run = RunStart(loaded.config.name, folder.path, resolved, flatten_config(resolved), environment, resumed)
        for position, (name, tracker) in enumerate(self.trackers):
            try:
                where = tracker.start(run)
            except BaseException as exc:
                self.trackers = self.trackers[:position + 1]  # those not started are not closed either
                if not isinstance(exc, Exception):  # an interrupt: the started trackers end as interrupted
                    self.close(exc)
                    self.trackers = []
                    raise
                error = _cannot_start(name, exc, folder)
                self.close(error)
                self.trackers = []
                folder.log(f"stopped: {error}", echo=False)  # the command line prints it
                raise error from exc
            if where:
                self.log(str(where))

    def start_fold(self, index: int, name: str) -> None:
        """Fold ``index`` trains from its first epoch: its stale history rows go, trackers are told."""
        if self.history is not None:
            self.history.start_fold(index)
        self._call("start_fold", index, name)

    def epoch_logger(self, index: int, name: str) -> Callable[[Any], None]:
        """The per-epoch callback of fold ``index``: takes an :class:`~mertk.engine.trainer.EpochStats`
        (or its ``vars()``, as a fold record keeps it)."""
        def log_epoch(stats: Any) -> None:
            values = epoch_values(stats)
            epoch = int(stats["epoch"] if isinstance(stats, Mapping) else stats.epoch)
            if self.history is not None:
                self.history.append(index, name, epoch, values)
            self._call("log_epoch", index, epoch, values)
        return log_epoch

    def replay_fold(self, index: int, name: str, history: Sequence[Mapping[str, Any]]) -> None:
        """Fold ``index`` trained elsewhere (a worker process or node) and its record arrived:
        its epochs (the record's ``history``) are logged now, in order, as if they had just run."""
        self.start_fold(index, name)
        log_epoch = self.epoch_logger(index, name)
        for stats in history:
            log_epoch(stats)

    def end_fold(self, record: Mapping[str, Any]) -> None:
        """A fold's record (as :func:`mertk.engine.fold.train_folds` returns it) is saved."""
        self._call("end_fold", record["index"], record["name"], _fold_metrics(record))

    def finish(self, folder: RunFolder, metrics: Mapping[str, Any], folds: Sequence[Mapping[str, Any]]) -> None:
        """Every fold is done and the report written: pass scores, mean curves and result files."""
        images = {name: folder.path / f"{name}.png" for name in _IMAGES if (folder.path / f"{name}.png").is_file()}
        files = [folder.path / f for f in RESULT_FILES if (folder.path / f).is_file()]
        curves = {k: v for k, v in mean_curves(folds).items() if k == "accuracy" or k.split("/")[0] == "loss"}
        self._call("finish", RunResult(flat_metrics(metrics), curves, images, files))

    def close(self, error: BaseException | None = None) -> None:
        """Always last: ``error`` is the exception that ended the run, if any."""
        status = ("finished" if error is None else "interrupted" if isinstance(error, KeyboardInterrupt)
                  else "failed")
        self._call("close", status)
