"""Folds of one or more runs handed to the config's executor, each written as it arrives.

The unit of work is one fold of one run (one seed of one config), or one stack of folds trained
together (``train.stack_folds``, :func:`mertk.engine.runner.run_fold_stack`). This process, the driver,
opens each run folder, loads and preprocesses the data, splits the folds and skips those a
resumed run finished earlier. Every remaining fold of every run goes to the executor in one
call, with one :class:`FoldJob` per run as the shared payload: the config, how to load the
plugins, the views and labels. A worker rebuilds what a fold needs from its job once per
process (:func:`fold_task`); the fold's result depends only on the job and its number, so it is
the same whichever executor ran it, in whichever order. The driver writes each finished fold to
its run folder at once (atomically: ``folds/NNN.json``, ``predictions.csv``, the checkpoint),
and finishes a run (metrics, exported model, report) as soon as its last fold is in.

Each run's ``history.csv`` and trackers (:class:`mertk.engine.tracking.RunTracking`) live in the
driver. A fold that runs in the driver's own process reports its epochs as they end; a fold
from a worker process or node reports them when its record arrives, in order, followed by its
end: either way each fold's epochs are logged once, before the fold's end.

A fold that fails stops everything: the folds finished so far stay written, the executor's
unfinished tasks are cancelled, and the error names the run, the fold and the cause; the error
and its traceback go to the run's ``run.log``. So does an error of the executor itself (a lost
Ray node), and a worker that died and is retried (a :class:`~mertk.api.TaskRetry` from the
executor) is a line there. An interrupt (Ctrl-C, SIGTERM) writes how to resume to every open
run's ``run.log`` and is raised again as :class:`~mertk.interrupts.Interrupted` with that hint.
``mertk run --resume RUN_DIR`` (or the same ``mertk bench`` again) then runs only the folds not
written. Each run folder is locked for this process (:mod:`mertk.engine.runlock`) until
:func:`run_experiments` returns or raises.
"""

from __future__ import annotations

import collections
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mertk.api import Fold, Sample, TaskFailure, TaskRetry
from mertk.config import LoadedConfig, validate_config
from mertk.engine import fingerprint, runner
from mertk.engine.rundir import RunFolder
from mertk.engine.stacked import StackingError
from mertk.engine.tracking import RunTracking
from mertk.engine.trainer import normalize_views, select_device
from mertk.errors import MertkError, PluginError
from mertk.execution import open_executor
from mertk.execution.tasks import first_sentence
from mertk.interrupts import Interrupted
from mertk.plugins import PluginRecipe, plugin_recipe
from mertk.registry import Components

__all__ = ["RunRequest", "FoldJob", "fold_task", "run_experiments"]


@dataclass
class RunRequest:
    """One run to start or resume: the config, its run folder (default: a new one), resume or not."""

    loaded: LoadedConfig
    run_dir: Path | None = None
    resume: bool = False


@dataclass
class FoldJob:
    """Everything a worker needs to run any fold of one run; sent to each worker once.

    Attributes:
        key: Unique id of the job (workers keep what they built from it under this key).
        config: The run's config as plain data (``LoadedConfig.data``), validated again in the
            worker against the plugins it loaded: the validated model class is built from the
            registered sections at run time, so it does not travel by pickle.
        config_file: The config's file, for messages.
        plugins: How to load the run's plugins in another process, or why that is impossible.
        samples: The kept samples (fold records name them).
        class_names: The ``K`` class names.
        views: View name -> ``(N, C, S, S)`` float32 in ``[0, 1]``, as preprocessing made them.
        labels: ``(N,)`` int64.
        folds: The run's folds (indices into ``samples``).
        checkpoints: Return each fold model's weights (``output.checkpoints``).
    """

    key: str
    config: dict[str, Any]
    config_file: str
    plugins: PluginRecipe | str
    samples: list[Sample]
    class_names: tuple[str, ...]
    views: dict[str, np.ndarray]
    labels: np.ndarray
    folds: list[Fold]
    checkpoints: bool


@dataclass
class _Built:
    """What a fold needs, built from a :class:`FoldJob` (or kept from the driver's own run)."""

    loaded: LoadedConfig
    components: Components
    data: runner.ExperimentData
    inputs: Mapping[str, torch.Tensor]
    labels: torch.Tensor
    folds: list[Fold]
    #: In the driver: fold index -> its per-epoch callback (live history and trackers).
    epoch_logger: Callable[[int], Callable[[Any], None]] | None = None


#: The driver's own runs, so that tasks run in this process use the objects the run built.
_IN_DRIVER: dict[str, _Built] = {}
#: What this worker process built from the jobs it saw last (a bench sends one job per run).
_IN_WORKER: collections.OrderedDict[str, _Built] = collections.OrderedDict()
_KEEP_IN_WORKER = 4


def _build(job: FoldJob) -> _Built:
    """Rebuild a run's components and model inputs in a worker process (once per job and process)."""
    if job.key in _IN_WORKER:
        _IN_WORKER.move_to_end(job.key)
        return _IN_WORKER[job.key]
    if isinstance(job.plugins, str):
        raise PluginError(job.plugins)
    components = job.plugins.load()
    loaded = LoadedConfig(validate_config(job.config, components, file=Path(job.config_file).name), job.config_file,
                          job.config)
    train = loaded.config.train
    device = select_device(train.device)
    views = {name: torch.from_numpy(np.array(v)) for name, v in job.views.items()}  # a writable copy
    inputs = normalize_views(views, train.normalize_mean, train.normalize_std, device,
                             channels_last=train.channels_last)
    built = _Built(loaded, components, runner.ExperimentData(job.samples, {}, job.class_names, []), inputs,
                   torch.from_numpy(np.array(job.labels)).to(device), job.folds)
    _IN_WORKER[job.key] = built
    while len(_IN_WORKER) > _KEEP_IN_WORKER:
        _IN_WORKER.popitem(last=False)
    return built


FoldResult = tuple[dict[str, Any], "dict[str, torch.Tensor] | None"]


def fold_task(jobs: Mapping[str, FoldJob], task: tuple[str, tuple[int, ...]]) -> list[FoldResult]:
    """Run folds ``indices`` of job ``key`` (``task = (key, indices)``): one fold with
    :func:`mertk.engine.runner.run_fold`, several as one stack with
    :func:`mertk.engine.runner.run_fold_stack`.

    A stack whose model cannot be computed stacked fails with the fix when ``train.stack_folds``
    asked for it; under ``auto`` its folds train one after another, each record saying why in
    ``stack_fallback``.

    Returns:
        Per fold, in ``indices`` order: its record, and the trained model's weights (CPU tensors)
        when the job keeps checkpoints, else ``None``.
    """
    key, indices = task
    job = jobs[key]
    built = _IN_DRIVER.get(key) or _build(job)
    total = len(built.folds)

    def weights(model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
        return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()} if job.checkpoints else None

    fallback = None
    if len(indices) > 1:
        try:
            stack = runner.run_fold_stack(built.loaded, built.components, built.data, built.inputs, built.labels,
                                          [(i, built.folds[i]) for i in indices], total=total)
            return [(record, weights(model)) for model, record in stack]
        except StackingError as exc:
            name = runner._model_name(built.loaded)
            if built.loaded.config.train.stack_folds != "auto":
                raise MertkError(f"{Path(built.loaded.file).name}: train.stack_folds: model {name!r} cannot be "
                                 f"trained stacked ({exc}). Set train.stack_folds: off, or auto to train it one "
                                 "fold after another.") from exc
            fallback = f"model {name!r} failed stacked ({exc})"
    results = []
    for index in indices:
        on_epoch = built.epoch_logger(index) if built.epoch_logger is not None else None
        model, record = runner.run_fold(built.loaded, built.components, built.data, built.inputs, built.labels,
                                        built.folds[index], index, total=total, on_epoch=on_epoch)
        if fallback:
            record["stack_fallback"] = fallback
        results.append((record, weights(model)))
    return results


@dataclass
class _Run:
    """One run in the driver: its folder, data, folds and the records of its finished folds."""

    request: RunRequest
    folder: RunFolder
    data: runner.ExperimentData
    inputs: Mapping[str, torch.Tensor]
    labels: torch.Tensor
    folds: list[Fold]
    job: FoldJob
    tracking: RunTracking
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Folds whose epochs were logged live, as they ran in this process.
    live: set[int] = field(default_factory=set)
    #: Folds per task (``train.stack_folds``; 1: one fold per task).
    stack: int = 1

    @property
    def todo(self) -> list[int]:
        return [i for i in range(len(self.folds)) if i not in self.records]

    def groups(self) -> list[tuple[int, ...]]:
        """The unfinished folds in tasks of :attr:`stack` folds (in fold order)."""
        todo = self.todo
        return [tuple(todo[i:i + self.stack]) for i in range(0, len(todo), self.stack)]

    def log(self, line: str) -> None:
        self.folder.log(line)

    def epoch_logger(self, index: int) -> Callable[[Any], None]:
        """Fold ``index`` runs in this process: log its epochs as they end."""
        self.live.add(index)
        self.tracking.start_fold(index, self.folds[index].name)
        return self.tracking.epoch_logger(index, self.folds[index].name)

    def save(self, index: int, record: dict[str, Any], weights: Mapping[str, torch.Tensor] | None) -> None:
        """Write a finished fold: checkpoint, ``folds/NNN.json``, ``predictions.csv``, a log line."""
        if weights is not None:
            from mertk.artifact import save_weights

            save_weights(weights, self.folder.path / "checkpoints" / f"fold-{index:03d}.safetensors")
        self.folder.save_fold(index, record)
        self.records[index] = record
        self.folder.write_predictions(self.finished(), self.data.class_names, self.sample_info)
        fold, total = self.folds[index], len(self.folds)
        if index not in self.live:
            self.tracking.replay_fold(index, fold.name, record["history"])
        self.tracking.end_fold(record)
        correct = sum(int(a == b) for a, b in zip(record["y_true"], record["y_pred"]))
        trained = f"final train loss {record['history'][-1]['loss']:.4f}" if record["history"] else "fitted"
        self.log(f"fold {index + 1}/{total} {fold.name}: {correct}/{len(record['test_ids'])} correct, "
                 f"{trained}, {record['seconds']:.1f} s")

    def finished(self) -> list[dict[str, Any]]:
        return [self.records[i] for i in sorted(self.records)]

    @property
    def sample_info(self) -> dict[str, dict[str, str]]:
        return {s.id: {"subject": s.subject, "dataset": s.dataset} for s in self.data.samples}

    def finish(self, components: Components) -> None:
        runner.finish_run(self.request.loaded, components, self.data, self.inputs, self.labels, self.folder,
                          self.finished(), len(self.folds), self.tracking)


def _describe(executor: Any) -> str:
    describe = getattr(executor, "describe", None)
    return describe() if callable(describe) else type(executor).__name__


def _recipe(components: Components) -> PluginRecipe | str:
    try:
        return plugin_recipe(components)
    except PluginError as exc:  # fine as long as every fold runs in this process
        return str(exc)


def _start(request: RunRequest, components: Components, executor: Any, prefix: str,
           opened: list[RunFolder]) -> _Run:
    """Open the run folder (appended to ``opened``), load the data (preprocessing on ``executor``),
    split and check the folds."""
    loaded = request.loaded
    tracking = RunTracking.build(loaded, components)  # a missing tracker package fails before any work
    recipe = fingerprint.recipe_fingerprint(loaded, components)
    folder, device = runner._open_run_folder(loaded, request.run_dir, request.resume, _describe(executor), recipe,
                                             prefix)
    opened.append(folder)
    tracking.start(loaded, folder, resumed=request.resume)
    try:
        return _prepare(request, components, executor, folder, device, tracking)
    except BaseException as exc:  # the run never reaches the fold loop: its trackers end here
        tracking.close(exc)
        raise


def _prepare(request: RunRequest, components: Components, executor: Any, folder: RunFolder,
             device: torch.device, tracking: RunTracking) -> _Run:
    """The rest of :func:`_start`, once the run folder is open and the trackers started."""
    loaded = request.loaded
    data = runner._load_and_record_data(loaded, components, folder, executor)
    folds = runner.split_folds(loaded, components, data)
    train = loaded.config.train
    inputs = normalize_views(data.views, train.normalize_mean, train.normalize_std, device,
                             channels_last=train.channels_last)
    labels = torch.as_tensor([s.label for s in data.samples], dtype=torch.int64, device=device)
    job = FoldJob(key=uuid.uuid4().hex, config=dict(loaded.data), config_file=loaded.file, plugins=_recipe(components),
                  samples=data.samples, class_names=data.class_names,
                  views={k: v.numpy() for k, v in data.views.items()},
                  labels=labels.cpu().numpy(), folds=folds, checkpoints=loaded.config.output.checkpoints)
    run = _Run(request, folder, data, inputs, labels, folds, job, tracking)
    for index, fold in enumerate(folds):
        done = runner._finished_fold(folder, index, fold, data) if request.resume else None
        if done is not None:
            run.records[index] = done
            run.log(f"fold {index + 1}/{len(folds)} {fold.name}: finished earlier, kept")
    run.stack = runner._stack_size(loaded, components, data, inputs, labels, [(i, folds[i]) for i in run.todo],
                                   folder)
    _IN_DRIVER[job.key] = _Built(loaded, components, data, inputs, labels, folds, run.epoch_logger)
    return run


def run_experiments(requests: Sequence[RunRequest], components: Components) -> list[Path]:
    """Run (or resume) several runs with their folds on one executor; returns their run folders.

    The executor is the first run's ``executor``. Folds of all runs are handed out together,
    so a cluster is kept busy across runs; each run is finished as soon as its folds are in.

    Raises:
        MertkError: as :func:`mertk.engine.runner.run_experiment`; a failed fold names its run.
    """
    if not requests:
        return []
    first = requests[0].loaded
    runs: list[_Run] = []
    opened: list[RunFolder] = []
    with open_executor(components, first.config.executor, file=Path(first.file).name) as executor:
        try:
            for request in requests:
                prefix = f"[{request.run_dir.name}] " if len(requests) > 1 and request.run_dir is not None else ""
                runs.append(_start(request, components, executor, prefix, opened))
            for run in runs:
                if not run.todo:
                    run.finish(components)
            tasks = [(k, group) for k, run in enumerate(runs) for group in run.groups()]
            if tasks:
                _execute(runs, tasks, executor, components)
        except BaseException as exc:
            for run in runs:
                run.tracking.close(exc)
            if isinstance(exc, KeyboardInterrupt):
                raise _interrupted(opened, exc) from None
            raise
        else:
            for run in runs:
                run.tracking.close()
        finally:
            for run in runs:
                _IN_DRIVER.pop(run.job.key, None)
            for folder in opened:
                folder.release()
    return [run.folder.path for run in runs]


def _execute(runs: Sequence[_Run], tasks: Sequence[tuple[int, tuple[int, ...]]], executor: Any,
             components: Components) -> None:
    """Hand ``tasks`` (run number, fold numbers) to the executor; write and finish runs as folds arrive."""
    jobs = {run.job.key: run.job for k, run in enumerate(runs) if any(t[0] == k for t in tasks)}
    results: Iterator[tuple[int, Any]] = executor.map(fold_task, jobs, [(runs[k].job.key, g) for k, g in tasks])
    try:
        for position, outcome in _guarded(results, runs, executor):
            run, group = runs[tasks[position][0]], tasks[position][1]
            if isinstance(outcome, TaskRetry):
                run.log(f"worker died running {_folds_named(run, group)} ({outcome.cause}), retrying "
                        f"({outcome.attempt}/{outcome.retries})")
                continue
            if isinstance(outcome, TaskFailure):
                raise _failed(run, group[0], outcome)
            if len(group) > 1:
                first = outcome[0][0]
                run.log(f"folds {group[0] + 1}-{group[-1] + 1}/{len(run.folds)}: trained as one stack of {len(group)}"
                        if "stack" in first else
                        f"train.stack_folds: auto: {first.get('stack_fallback')}; trained one fold after another")
            for index, (record, weights) in zip(group, outcome):
                run.save(index, record, weights)
            if not run.todo:
                run.finish(components)
    finally:
        close = getattr(results, "close", None)
        if callable(close):  # stops the executor's unfinished tasks when a fold failed
            close()


def _folds_named(run: _Run, group: Sequence[int]) -> str:
    """``fold 3/12 beta/s1``, or ``folds 3-4/12`` for a stack."""
    total = len(run.folds)
    if len(group) == 1:
        return f"fold {group[0] + 1}/{total} {run.folds[group[0]].name}"
    return f"folds {group[0] + 1}-{group[-1] + 1}/{total}"


def _guarded(results: Iterator[tuple[int, Any]], runs: Sequence[_Run], executor: Any) -> Iterator[tuple[int, Any]]:
    """``results``, with an error of the executor itself (a lost cluster, a dead Ray node) turned
    into a :class:`MertkError` naming the cause and how to resume, written with its traceback to
    each unfinished run's ``run.log``; a fold's own error is a :class:`TaskFailure` result instead."""
    try:
        yield from results
    except Exception as exc:
        cause = (str(exc) if isinstance(exc, MertkError)
                 else f"executor {_describe(executor)} failed: {type(exc).__name__}: {first_sentence(exc)}")
        unfinished = [run for run in runs if run.todo]
        where = ", ".join(f"`mertk run --resume {run.folder.path}`" for run in unfinished)
        error = MertkError(f"{cause}. The finished folds are kept; once the executor works again, "
                           f"{where or 'resuming'} runs the others (the traceback is in run.log)")
        trace = traceback.format_exc().rstrip("\n")
        for run in unfinished:
            run.folder.log(f"stopped: {error}", echo=False)  # the command line prints it
            run.folder.log(trace, echo=False)
        raise error from None


def _interrupted(folders: Sequence[RunFolder], exc: KeyboardInterrupt) -> Interrupted:
    """Write to each run's ``run.log`` that it was interrupted and how to resume it; the
    :class:`Interrupted` to raise, whose hint the command line prints."""
    for folder in folders:
        folder.log(Interrupted.of(exc, f"resume with `mertk run --resume {folder.path}`").hint, echo=False)
    if len(folders) == 1:
        return Interrupted.of(exc, f"resume with `mertk run --resume {folders[0].path}`")
    if folders:
        return Interrupted.of(exc, f"the folds finished so far are kept in {len(folders)} run folders: run the same "
                              "command again to resume them (or `mertk run --resume RUN_DIR` for one; see its run.log)")
    return Interrupted.of(exc)


def _failed(run: _Run, index: int, failure: TaskFailure) -> MertkError:
    """The error that stops the run for a failed fold; it and the traceback go to ``run.log``."""
    fold, total = run.folds[index], len(run.folds)
    kept = len(run.records)
    error = MertkError(
        f"{run.folder.prefix}fold {index + 1}/{total} {fold.name} failed: {failure}"
        + (f" (traceback in {run.folder.path / 'run.log'})" if failure.traceback and not failure.user_error else "")
        + f". The {kept} finished fold{'s' * (kept != 1)} of {run.folder.path} are kept; after fixing the cause, "
        f"`mertk run --resume {run.folder.path}` runs the others")
    run.folder.log(f"stopped: {error}", echo=False)  # the command line prints it
    if failure.traceback:
        run.folder.log(failure.traceback.rstrip("\n"), echo=False)
    return error
