"""``mertk spot CONFIG``: every recording of a long-video dataset spotted LOSO, scored, reported.

The run folder is ``mertk run``'s (:class:`mertk.engine.rundir.RunFolder`: ``config.yaml``, the
lock, ``fingerprint.json``, ``problems.csv``, ``run.log``, ``metrics.json``) with, per recording,
``signals/{name}.npz``, ``timelines/{name}.png`` and, last, ``videos/{name}.csv``: a recording
whose CSV is there is finished and is not spotted again on resume. A resume with another recipe
(config less where it runs, versions) or other data (annotation files, recordings, truth) is
refused by the same fingerprint as ``mertk run`` (:mod:`mertk.engine.fingerprint`).

Protocol, leave one subject out: the recordings of each subject are spotted by a spotter that saw
none of them. A spotter with a ``fit(videos)`` ability is trained per fold on the other subjects'
recordings; a training-free one (``strain-peaks``) is the same fixed settings for every fold, which
looked at no recording, and the run log says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mertk.api import DescribedExecutor, LongVideo, TaskFailure, TaskRetry
from mertk.config import LoadedConfig
from mertk.engine.fingerprint import check_data, check_resume, recipe_fingerprint
from mertk.engine.rundir import RunFolder
from mertk.errors import DataError, MertkError
from mertk.evaluation.intervals import SpottedVideo, evaluate_spotting
from mertk.execution import open_executor
from mertk.interrupts import Interrupted
from mertk.registry import Components
from mertk.spotting.files import file_stem, read_intervals, write_intervals, write_signals
from mertk.spotting.report import write_spot_report
from mertk.spotting.task import SpotJob, SpotOutcome, SpotTask, spot_task, spotter_fits

__all__ = ["spot_experiment", "video_fingerprint", "loso_tasks"]

#: How a refused resume names what it keeps and what may change (the spotting config's operational keys).
REFUSAL = {"kept": "recordings", "may_change": ("executor", "output")}


def video_fingerprint(videos: Sequence[LongVideo]) -> dict[str, Any]:
    """The data part of the fingerprint (:func:`mertk.engine.fingerprint.check_data`'s form): the
    annotation files' digests and each recording's id with its frame count and truth, in order."""
    from mertk.engine.fingerprint import _file_digest

    files = sorted({str(i.meta["file"]) for v in videos for i in v.intervals if i.meta.get("file")})
    return {"classes": ["micro", "macro"], "files": {f: _file_digest(f) for f in files},
            "samples": {v.id: {"frames": len(v.frames), "video": str(v.video or ""), "fps": v.fps,
                               "truth": [[i.onset, i.offset, i.expression] for i in v.intervals]} for v in videos}}


def loso_tasks(videos: Sequence[LongVideo], fits: bool) -> list[SpotTask]:
    """One task per recording, its fold the subject held out; with the other subjects' recordings
    when the spotter ``fits``."""
    return [SpotTask(v, v.subject, tuple(o for o in videos if o.subject != v.subject) if fits else ()) for v in videos]


def _describe(executor: Any) -> str:
    return executor.describe() if isinstance(executor, DescribedExecutor) else type(executor).__name__


def spot_experiment(loaded: LoadedConfig, components: Components, *, run_dir: Path | None = None,
                    resume: bool = False) -> Path:
    """Run (or resume) the spotting evaluation ``loaded`` (a :class:`~mertk.spotting.settings.SpotConfig`)
    describes; returns the run folder.

    Raises:
        MertkError: no usable recording, a resume with another recipe or data, a recording that
            failed (named; the finished ones are kept), a spotter that learns with a single subject.
    """
    config = loaded.config
    folder = RunFolder.open(run_dir) if resume and run_dir is not None else \
        RunFolder.create(config.output.dir, config.name, run_dir)
    resume_hint = f"`mertk spot --resume {folder.path}`"
    try:
        recipe = recipe_fingerprint(loaded, components)
        if resume:
            check_resume(folder, loaded, recipe, fix=f"resume without these changes (if {folder.path / 'config.yaml'} "
                         "was edited, undo the edit), or start a new run with them: `mertk spot CONFIG`", **REFUSAL)
        else:
            folder.save_config(loaded.data)
            folder.save_fingerprint(recipe)
        folder.log(f"run folder: {folder.path}")
        videos = _load(folder, components, config, Path(loaded.file).name)
        check_data(folder, video_fingerprint(videos), fix="resume with the data as it was, or start a new run on "
                   "the changed data (`mertk spot CONFIG` gets its own run folder)", **REFUSAL)
        fits = spotter_fits(components, config.spotter)
        name = config.spotter["name"]
        subjects = sorted({v.subject for v in videos})
        if fits and len(subjects) < 2:
            raise MertkError(f"spotter {name!r} learns from recordings, and LOSO needs another subject to train on, "
                             f"but the dataset has only {subjects[0]}. Fix: add recordings of other subjects")
        folder.log(f"protocol loso: {len(videos)} recordings of {len(subjects)} subjects; " +
                   (f"spotter {name} is trained per fold on the other subjects' recordings" if fits else
                    f"spotter {name} has no fit (training-free): every fold is spotted with its fixed settings, "
                    "which looked at no recording"))
        todo = [t for t in loso_tasks(videos, fits) if not _finished(folder, t.video)]
        if len(todo) < len(videos):
            folder.log(f"resuming: {len(videos) - len(todo)} recordings already spotted, {len(todo)} to go")
        if todo:
            key = hashlib.sha256(json.dumps([str(folder.path.resolve()), config.spotter], sort_keys=True,
                                            default=str).encode()).hexdigest()[:16]
            job = SpotJob(key, config.spotter, _recipe(components), components)
            with open_executor(components, config.executor, file=Path(loaded.file).name) as executor:
                folder.log(f"executor: {_describe(executor)}")
                _execute(folder, job, todo, executor, len(videos), config.output.timelines)
        metrics = _metrics(folder, videos, name, fits)
        folder.save_metrics(metrics)
        write_spot_report(folder.path, metrics, videos, [f"timelines/{file_stem(v.id)}.png" for v in videos])
        overall = metrics["overall"]
        folder.log("F1: " + ", ".join(f"{t} {_f(metrics[t]['f1'])}" for t in ("micro", "macro", "overall"))
                   + f" ({overall['tp']} TP, {overall['fp']} FP, {overall['fn']} FN)")
        folder.print_result(str(folder.path))
    except KeyboardInterrupt as exc:
        hint = f"the recordings spotted so far are kept; resume with {resume_hint}"
        folder.log(Interrupted.of(exc, hint).hint, echo=False)
        raise Interrupted.of(exc, hint) from None
    finally:
        folder.release()
    return folder.path


def _f(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _recipe(components: Components) -> Any:
    from mertk.errors import PluginError
    from mertk.plugins import plugin_recipe

    try:
        return plugin_recipe(components)
    except PluginError as exc:
        return str(exc)


def _load(folder: RunFolder, components: Components, config: Any, file: str) -> list[LongVideo]:
    """The dataset's usable recordings, sorted by id; its problems to ``problems.csv`` and the log."""
    load = components.build("video_dataset", config.dataset, file=file, key="dataset").load()
    folder.save_problems(load.problems)
    for problem in load.problems:
        folder.log(f"{'skipped' if problem.fatal else 'warning'}: {problem}")
    if not load.videos:
        raise DataError(f"dataset {config.dataset['name']!r}: no usable recording ({len(load.problems)} problems, "
                        f"listed in {folder.path / 'problems.csv'}). Fix: check the dataset's root and annotation")
    videos = sorted(load.videos, key=lambda v: v.id)
    stems: dict[str, str] = {}
    for video in videos:
        other = stems.setdefault(file_stem(video.id), video.id)
        if other != video.id:
            raise DataError(f"recordings {other!r} and {video.id!r} would share the result file "
                            f"videos/{file_stem(video.id)}.csv. Fix: rename one of them (in the manifest)")
    return videos


def _paths(folder: RunFolder, video: LongVideo) -> dict[str, Path]:
    stem = file_stem(video.id)
    return {"csv": folder.path / "videos" / f"{stem}.csv", "signals": folder.path / "signals" / f"{stem}.npz",
            "timeline": folder.path / "timelines" / f"{stem}.png"}


def _finished(folder: RunFolder, video: LongVideo) -> bool:
    return _paths(folder, video)["csv"].is_file()


def _execute(folder: RunFolder, job: SpotJob, tasks: Sequence[SpotTask], executor: Any, total: int,
             timelines: bool) -> None:
    """Spot ``tasks`` on the executor; write each recording's files as it arrives."""
    results: Iterator[tuple[int, Any]] = executor.map(spot_task, job, list(tasks))
    done = total - len(tasks)
    try:
        for position, outcome in results:
            video = tasks[position].video
            if isinstance(outcome, TaskRetry):
                folder.log(f"worker died spotting {video.id} ({outcome.cause}), retrying "
                           f"({outcome.attempt}/{outcome.retries})")
                continue
            if isinstance(outcome, TaskFailure):
                error = MertkError(f"recording {video.id} failed: {outcome}. The {done} recordings spotted so far in "
                                   f"{folder.path} are kept; after fixing the cause, `mertk spot --resume "
                                   f"{folder.path}` spots the others")
                folder.log(f"stopped: {error}", echo=False)
                if outcome.traceback:
                    folder.log(outcome.traceback.rstrip("\n"), echo=False)
                raise error
            _save(folder, video, outcome, timelines)
            done += 1
            kinds = {t: sum(i.expression == t for i in outcome.intervals) for t in ("micro", "macro")}
            folder.log(f"recording {done}/{total} {video.id}: {len(outcome.intervals)} intervals (micro "
                       f"{kinds['micro']}, macro {kinds['macro']}), {outcome.frames} frames in {outcome.seconds:.1f} s")
    finally:
        close = getattr(results, "close", None)
        if callable(close):
            close()


def _save(folder: RunFolder, video: LongVideo, outcome: SpotOutcome, timelines: bool) -> None:
    """Signals, timeline, then the intervals CSV (the resume marker)."""
    paths = _paths(folder, video)
    write_signals(paths["signals"], outcome.signals, outcome.thresholds)
    if timelines:
        from mertk.spotting.timeline import plot_timeline

        paths["timeline"].parent.mkdir(exist_ok=True)
        plot_timeline(paths["timeline"], fps=video.fps, frames=outcome.frames, signals=outcome.signals,
                      thresholds=outcome.thresholds, truths=video.intervals, detections=outcome.intervals,
                      title=f"{video.id} ({video.fps:g} fps)")
    paths["csv"].parent.mkdir(exist_ok=True)
    write_intervals(paths["csv"], outcome.intervals)


def _metrics(folder: RunFolder, videos: Sequence[LongVideo], spotter: str, fits: bool) -> dict[str, Any]:
    """``metrics.json``: ``micro``, ``macro``, ``overall`` over all recordings, then per dataset,
    subject and recording (:func:`mertk.evaluation.intervals.evaluate_spotting`)."""
    spotted = [SpottedVideo(v.id, v.subject, v.dataset, v.intervals, read_intervals(_paths(folder, v)["csv"]))
               for v in videos]
    scores = evaluate_spotting(spotted)
    return {"protocol": "loso", "spotter": spotter, "trained_per_fold": fits, "recordings": len(videos),
            "subjects": len({v.subject for v in videos}), **scores["overall"],
            **{k: v for k, v in scores.items() if k != "overall"}}
