"""Run experiments: the folds of one or more runs handed to the config's executor, each written as it arrives.

The unit of work is one fold of one run (one seed of one config), or one stack of folds trained
together (``train.stack_folds``). This process, the driver, opens each run
(:class:`mertk.engine.run.Run`: its folder, data, folds, the folds a resumed run finished).
Every remaining fold of every run goes to the executor in one call of
:func:`mertk.engine.fold.fold_task`, with one :class:`~mertk.engine.fold.FoldJob` per run as the
shared payload: the config, how to load the plugins, the views and labels. A worker rebuilds
what a fold needs from its job once per process (:func:`mertk.engine.fold.fold_context`); the
fold's result depends only on the job and its number, so it is the same whichever executor ran
it, in whichever order. The driver writes each finished fold to
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

import functools
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mertk.api import DescribedExecutor, StartableExecutor, TaskFailure, TaskRetry
from mertk.config import LoadedConfig
from mertk.engine.fold import fold_task, warm_up
from mertk.engine.run import Run
from mertk.engine.rundir import RunFolder
from mertk.errors import MertkError
from mertk.execution import open_executor
from mertk.execution.tasks import first_sentence
from mertk.interrupts import Interrupted
from mertk.registry import Components

__all__ = ["RunRequest", "run_experiment", "run_experiments"]


@dataclass
class RunRequest:
    """One run to start or resume: the config, its run folder (default: a new one), resume or not."""

    loaded: LoadedConfig
    run_dir: Path | None = None
    resume: bool = False


def run_experiment(loaded: LoadedConfig, components: Components, *, run_dir: Path | None = None,
                   resume: bool = False) -> Path:
    """Run (or resume) the evaluation ``loaded`` describes; returns the run folder.

    Each finished fold is written to the run folder as it arrives, whichever executor ran it, so an
    interrupted run continues with ``mertk run --resume RUN_DIR`` from the unfinished folds.

    Args:
        loaded: The validated config with its file and merged plain mapping.
        components: Registries to build every part from.
        run_dir: The run folder; default ``{output.dir}/{name}-{timestamp}``.
        resume: Continue the run in ``run_dir``: finished folds are kept, not retrained.

    Raises:
        MertkError: bad data (with ``on_error: stop``), a resumed folder whose finished folds do
            not match this run's folds, a non-empty ``run_dir`` without ``resume``, or a fold that
            failed (named, with its error; the folds finished before it are kept).
    """
    return run_experiments([RunRequest(loaded, run_dir, resume)], components)[0]


def _describe(executor: Any) -> str:
    return executor.describe() if isinstance(executor, DescribedExecutor) else type(executor).__name__


def run_experiments(requests: Sequence[RunRequest], components: Components) -> list[Path]:
    """Run (or resume) several runs with their folds on one executor; returns their run folders.

    The executor is the first run's ``executor``. Folds of all runs are handed out together,
    so a cluster is kept busy across runs; each run is finished as soon as its folds are in.

    Raises:
        MertkError: as :func:`run_experiment`; a failed fold names its run.
    """
    if not requests:
        return []
    first = requests[0].loaded
    runs: list[Run] = []
    opened: list[RunFolder] = []
    with open_executor(components, first.config.executor, file=Path(first.file).name) as executor:
        # the workers start once the first run's folder is locked, and import torch while its data loads
        start = functools.partial(executor.start, warm_up) if isinstance(executor, StartableExecutor) else None
        try:
            for request in requests:
                prefix = f"[{request.run_dir.name}] " if len(requests) > 1 and request.run_dir is not None else ""
                runs.append(Run.start(request.loaded, components, run_dir=request.run_dir, resume=request.resume,
                                      executor=_describe(executor), data_executor=executor, prefix=prefix,
                                      opened=opened, on_open=start))
            for run in runs:
                if not run.todo:
                    run.finish()
            tasks = [(k, group) for k, run in enumerate(runs) for group in run.groups()]
            if tasks:
                _execute(runs, tasks, executor)
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
            for folder in opened:
                folder.release()
    return [run.folder.path for run in runs]


def _execute(runs: Sequence[Run], tasks: Sequence[tuple[int, tuple[int, ...]]], executor: Any) -> None:
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
                run.finish()
    finally:
        close = getattr(results, "close", None)
        if callable(close):  # stops the executor's unfinished tasks when a fold failed
            close()


def _folds_named(run: Run, group: Sequence[int]) -> str:
    """``fold 3/12 beta/s1``, or ``folds 3-4/12`` for a stack."""
    total = len(run.folds)
    if len(group) == 1:
        return f"fold {group[0] + 1}/{total} {run.folds[group[0]].name}"
    return f"folds {group[0] + 1}-{group[-1] + 1}/{total}"


def _guarded(results: Iterator[tuple[int, Any]], runs: Sequence[Run], executor: Any) -> Iterator[tuple[int, Any]]:
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


def _failed(run: Run, index: int, failure: TaskFailure) -> MertkError:
    """The error that stops the run for a failed fold; it and the traceback go to ``run.log``."""
    fold, total = run.folds[index], len(run.folds)
    kept = len(run.records)
    error = MertkError(
        f"{run.prefix}fold {index + 1}/{total} {fold.name} failed: {failure}"
        + (f" (traceback in {run.folder.path / 'run.log'})" if failure.traceback and not failure.user_error else "")
        + f". The {kept} finished fold{'s' * (kept != 1)} of {run.folder.path} are kept; after fixing the cause, "
        f"`mertk run --resume {run.folder.path}` runs the others")
    run.folder.log(f"stopped: {error}", echo=False)  # the command line prints it
    if failure.traceback:
        run.folder.log(failure.traceback.rstrip("\n"), echo=False)
    return error
