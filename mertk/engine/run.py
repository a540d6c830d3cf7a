"""One run in the driver: its folder, data, folds, resume, stack size, records and finish.

A :class:`Run` is opened by :meth:`Run.start`: it opens (or reopens, to resume) the run folder
and locks it, starts the trackers, loads and preprocesses the data, splits and checks the folds,
keeps the folds a resumed run finished earlier and chooses how many folds train together
(``train.stack_folds``). Its :attr:`Run.job` is what an executor's worker needs to train any of
its folds (:mod:`mertk.engine.fold`); :meth:`Run.save` writes each finished fold as it arrives,
and :meth:`Run.finish` scores the run, trains the exported model and writes the report once
every fold is in. Each fold's model is trained from scratch and tested as its last epoch left
it; nothing is selected on the test fold.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mertk.api import Fold, Problem, Sample, Task
from mertk.config import LOSS_TERM, LoadedConfig
from mertk.engine import fingerprint
from mertk.engine.fold import FoldContext, FoldJob, build_task, model_name, setup_fold, train_and_test
from mertk.engine.report import write_report
from mertk.engine.rundir import DamagedFold, RunFolder, environment_info
from mertk.engine.stackable import stacking_obstacle
from mertk.engine.stacked import measure_fold_bytes, stack_memory_limit, stack_size
from mertk.engine.tracking import RunTracking
from mertk.engine.trainer import EpochStats, autocast_dtype, normalize_views, select_device, set_threads
from mertk.errors import MertkError, PluginError
from mertk.plugins import PluginRecipe, plugin_recipe
from mertk.registry import Components, ComponentSpec

__all__ = ["ExperimentData", "Run", "load_data", "split_folds"]


@dataclass
class ExperimentData:
    """The kept samples and their model inputs, in the same order.

    Attributes:
        samples: Samples that passed loading and preprocessing.
        views: View name -> ``(N, C, S, S)`` float32 in ``[0, 1]``.
        class_names: The ``K`` class names.
        problems: Every data problem met (skipped samples and warnings).
        records: Per sample, how preprocessing handled it (face detector used, onset, apex and
            where the apex came from); see :class:`mertk.preprocess.pipeline.Prepared`.
        excluded: Annotation rows left out on purpose (not problems), by reason; see
            :class:`mertk.api.DatasetLoad`.
        skipped_for_task: Samples the run's task cannot use, by reason
            (:meth:`mertk.api.Task.skip_reason`), left out before preprocessing.
    """

    samples: list[Sample]
    views: dict[str, torch.Tensor]
    class_names: tuple[str, ...]
    problems: list[Problem]
    records: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    skipped_for_task: dict[str, int] = field(default_factory=dict)


def load_data(loaded: LoadedConfig, components: Components, *, executor: Any = None) -> ExperimentData:
    """Build the dataset, load it, leave out the samples the task cannot use, preprocess the others
    (the uncached clips on ``executor`` when it is not a ``local`` one, see
    :func:`mertk.preprocess.pipeline.prepare`) and apply ``on_error``.

    Every sample is loaded and preprocessed before ``on_error: stop`` stops, so the error lists
    every bad sample at once (and the good ones are cached).

    Raises:
        DataError: with ``on_error: stop``, when a sample cannot be used; its ``problems`` holds
            every problem met.
    """
    from mertk.data.problems import stop_on_fatal
    from mertk.preprocess.pipeline import prepare

    cfg, file = loaded.config, Path(loaded.file).name
    dataset = components.build("dataset", cfg.dataset, file=file, key="dataset")
    load = dataset.load()
    class_names = tuple(load.class_names or dataset.class_names)
    task = build_task(loaded, components)
    usable, skipped = [], Counter()
    for sample in load.samples:
        reason = task.skip_reason(sample)
        if reason is None:
            usable.append(sample)
        else:
            skipped[reason] += 1
    task.check(usable, class_names, source=f"{file}: dataset")  # before hours of preprocessing
    prepared = prepare(usable, cfg.preprocess, components, on_error="skip", config_file=file,
                       executor=executor)
    problems = [*load.problems, *prepared.problems]
    stop_on_fatal(problems, cfg.on_error)
    by_id = {s.id: s for s in usable}
    samples = [by_id[i] for i in prepared.sample_ids]
    return ExperimentData(samples, dict(prepared.views), class_names, problems, list(prepared.records),
                          dict(load.excluded), dict(skipped))


def split_folds(loaded: LoadedConfig, components: Components, data: ExperimentData,
                task: Task | None = None) -> list[Fold]:
    """The config's protocol applied to the kept samples, checked to test every sample once and,
    by the task (:meth:`mertk.api.Task.check`), to leave something to learn."""
    file, protocol = Path(loaded.file).name, loaded.config.protocol
    folds = components.build("protocol", protocol, file=file, key="protocol").split(data.samples)
    seen: list[int] = sorted(i for f in folds for i in f.test)
    if seen != list(range(len(data.samples))):
        raise MertkError(f"protocol {protocol!r} does not test every sample exactly once "
                         f"({len(seen)} test slots for {len(data.samples)} samples); check its settings")
    task = task or build_task(loaded, components)
    task.check(data.samples, data.class_names, source=f"{file}: dataset")
    task.check(data.samples, data.class_names, folds,
               source=f"{file}: protocol {protocol.get('name') if isinstance(protocol, dict) else protocol!r}")
    return folds


class Run:
    """One run in the driver, from its opened folder to its report.

    Attributes:
        loaded: The run's config.
        components: Registries to build every part from.
        folder: The run folder (locked until :func:`mertk.engine.schedule.run_experiments` ends).
        tracking: The run's ``history.csv`` and trackers.
        data: The loaded and preprocessed data.
        folds: The protocol's folds.
        context: What a fold needs in this process (:class:`mertk.engine.fold.FoldContext`).
        job: What a worker needs to train any fold (:class:`mertk.engine.fold.FoldJob`).
        records: Fold index -> the record of a finished fold (kept or trained).
        stack: Folds per task (``train.stack_folds``; 1: one fold per task).
        prefix: Put before every line the run prints (the run's name when several runs share an executor).
    """

    def __init__(self, loaded: LoadedConfig, components: Components, folder: RunFolder, tracking: RunTracking,
                 prefix: str = "") -> None:
        self.loaded, self.components, self.folder, self.tracking, self.prefix = (loaded, components, folder,
                                                                                tracking, prefix)
        self.data = ExperimentData([], {}, (), [])
        self.folds: list[Fold] = []
        self.records: dict[int, dict[str, Any]] = {}
        self.stack = 1
        self.live: set[int] = set()  # folds whose epochs were logged as they ran in this process
        self._context: FoldContext | None = None
        self._job: FoldJob | None = None

    @property
    def context(self) -> FoldContext:
        """What a fold of this run needs in this process (built once the data is loaded)."""
        if self._context is None:
            raise RuntimeError("the run's data is not loaded yet (Run.start loads it)")
        return self._context

    @property
    def job(self) -> FoldJob:
        """What a worker needs to train any fold of this run (built with :attr:`context`)."""
        if self._job is None:
            raise RuntimeError("the run's data is not loaded yet (Run.start loads it)")
        return self._job

    # ------------------------------------------------------------------ opening

    @classmethod
    def start(cls, loaded: LoadedConfig, components: Components, *, run_dir: Path | None, resume: bool,
              executor: str, data_executor: Any = None, prefix: str = "",
              opened: list[RunFolder] | None = None, on_open: Callable[[], None] | None = None) -> Run:
        """Open the run folder (appended to ``opened`` at once, so the caller releases it however this
        ends), start the trackers, load the data (uncached clips on ``data_executor``), split the
        folds, keep those a resumed run finished and choose the stack size.

        Args:
            executor: Where the folds run, in words (saved in the environment).
            on_open: Called once the folder is opened and locked, before the data loads (the
                executor starts its workers then, so that their start-up overlaps the loading).

        Raises:
            MertkError: bad data (with ``on_error: stop``), a resumed folder whose recipe, data or
                finished folds do not match this run's, a non-empty ``run_dir`` without ``resume``.
        """
        tracking = RunTracking.build(loaded, components)  # a missing tracker package fails before any work
        recipe = fingerprint.recipe_fingerprint(loaded, components)
        folder = cls._open_folder(loaded, run_dir, resume)
        folder.prefix = prefix  # before every line the run prints (not in run.log)
        if opened is not None:
            opened.append(folder)
        run = cls(loaded, components, folder, tracking, prefix)
        device = run._record_start(resume, executor, recipe)
        tracking.start(loaded, folder, resumed=resume)
        try:
            if on_open is not None:
                on_open()
            run._prepare(device, data_executor, resume)
        except BaseException as exc:  # the run never reaches the fold loop: its trackers end here
            tracking.close(exc)
            raise
        return run

    @staticmethod
    def _open_folder(loaded: LoadedConfig, run_dir: Path | None, resume: bool) -> RunFolder:
        if resume:
            if run_dir is None:
                raise MertkError("resume needs the run folder (mertk run --resume RUN_DIR)")
            return RunFolder.open(run_dir)
        return RunFolder.create(loaded.config.output.dir, loaded.config.name, run_dir)

    def _record_start(self, resume: bool, executor: str, recipe: Mapping[str, Any]) -> torch.device:
        """Check a resumed run's ``recipe`` against the recorded one; save the config (a new run only),
        the fingerprint and the environment; the training device.

        Raises:
            MertkError: resuming with a recipe other than the recorded one (nothing is written).
        """
        cfg, folder = self.loaded.config, self.folder
        legacy = fingerprint.check_resume(folder, self.loaded, recipe) if resume else None
        if not resume:
            folder.save_config(self.loaded.data)
        if legacy or not resume:
            folder.save_fingerprint(recipe)
        threads = set_threads(cfg.train.threads)
        device = select_device(cfg.train.device)
        arithmetic = "bf16 autocast" if autocast_dtype(cfg.train.precision, device) else "fp32"
        folder.save_environment({**environment_info(device, threads.count, arithmetic),
                                 "threads_reason": threads.reason, "executor": executor})
        folder.log(f"{'resuming' if resume else 'run'} {cfg.name}: {folder.path} "
                   f"(device {device}, {threads.count} threads: {threads.reason}; {arithmetic}; executor {executor})")
        if legacy:
            folder.log(f"warning: {legacy}")
        if folder.lock is not None and folder.lock.note:
            folder.log(f"the run folder is not locked: {folder.lock.note}; do not resume it twice at once")
        return device

    def _prepare(self, device: torch.device, data_executor: Any, resume: bool) -> None:
        """Load the data, split the folds, build the fold context and job, keep finished folds."""
        loaded = self.loaded
        task = build_task(loaded, self.components)
        self.data = data = self._load_and_record_data(data_executor, task)
        self.folds = folds = split_folds(loaded, self.components, data, task)
        train = loaded.config.train
        inputs = normalize_views(data.views, train.normalize_mean, train.normalize_std, device,
                                 channels_last=train.channels_last)
        labels = task.targets(data.samples, data.class_names).to(device)
        self._context = FoldContext(loaded, self.components, tuple(data.samples), data.class_names, inputs, labels,
                                   tuple(folds), loaded.config.output.checkpoints, self.epoch_logger, task)
        self._job = FoldJob(key=uuid.uuid4().hex, config=dict(loaded.data), config_file=loaded.file,
                            plugins=_recipe(self.components), samples=tuple(data.samples),
                            class_names=data.class_names, views={k: v.numpy() for k, v in data.views.items()},
                            labels=labels.cpu().numpy(), folds=tuple(folds),
                            checkpoints=loaded.config.output.checkpoints, context=self._context)
        if resume:
            for index, fold in enumerate(folds):
                done = self._finished_fold(index, fold)
                if done is not None:
                    self.records[index] = done
                    self.log(f"fold {index + 1}/{len(folds)} {fold.name}: finished earlier, kept")
        self.stack = self._stack_size()

    def _load_and_record_data(self, executor: Any, task: Task) -> ExperimentData:
        """Load and preprocess the data; write problems.csv and preprocessing.csv; refuse no samples.

        An error that stops the run here is written to ``run.log`` too, with every data problem in
        ``problems.csv``.
        """
        folder = self.folder
        try:
            data = load_data(self.loaded, self.components, executor=executor)
        except MertkError as exc:
            folder.save_problems(getattr(exc, "problems", []))
            folder.log(f"stopped: {exc}", echo=False)  # the command line prints it
            raise
        try:  # before anything is written: a resume on other data is refused
            fingerprint.check_data(folder, _data_fingerprint(data, task))
        except MertkError as exc:
            folder.log(f"stopped: {exc}", echo=False)
            raise
        folder.save_problems(data.problems)
        folder.save_preprocessing([s.id for s in data.samples], data.records)
        skipped = sum(p.fatal for p in data.problems)
        outputs = len(task.output_names(data.class_names))  # classes, or action units
        folder.log(f"data: {len(data.samples)} samples, {outputs} {task.outputs}"
                   + (f", {skipped} skipped (problems.csv)" if skipped else ""))
        for reason, n in sorted(data.skipped_for_task.items()):
            folder.log(f"data: {n} sample(s) left out for task {task.name!r}: {reason}")
        if not data.samples:
            error = MertkError(f"{self.loaded.file}: no usable samples; " + _why_no_samples(data, folder))
            folder.log(f"stopped: {error}", echo=False)
            raise error
        return data

    def _finished_fold(self, index: int, fold: Fold) -> dict[str, Any] | None:
        """The saved record of a fold finished earlier, checked against this run's fold; ``None`` if
        none (or if its file is damaged: it is set aside, said in run.log and on screen, and the fold
        retrained)."""
        folder = self.folder
        try:
            done = folder.load_fold(index)
        except DamagedFold as exc:
            kept = folder.set_aside(folder.fold_path(index))
            folder.log(f"{exc}; moved to {kept.name}, fold {index + 1} {fold.name} is trained again")
            return None
        test_ids = [self.data.samples[i].id for i in fold.test]
        if done is not None and (done.get("test_ids") != test_ids or done.get("name") != fold.name):
            raise MertkError(f"{folder.fold_path(index)}: fold {index} ({done.get('name')}) tested other samples "
                             f"than this run's fold {fold.name}; the data or the protocol changed since the run "
                             "started. Start a new run instead of resuming this one.")
        return done

    def _stack_size(self) -> int:
        """Folds per stack from ``train.stack_folds`` (1: one after another); logs what ``auto`` chose."""
        ctx, pending = self.context, self.todo
        setting, device = self.loaded.config.train.stack_folds, ctx.labels.device
        if setting in ("off", 1) or len(pending) < 2:
            return 1
        reason = stacking_obstacle(self.loaded.config, self.components)
        if reason is not None:  # an explicit number was refused when the config was checked
            self.folder.log(f"train.stack_folds: auto: one fold after another; {reason}")
            return 1
        limit = None
        if setting == "auto" and device.type == "cuda":
            probe = setup_fold(ctx, self.folds[pending[0]].train, seed=self.loaded.config.seed)
            views = {k: v.index_select(0, probe.train_index) for k, v in ctx.inputs.items()}
            labels = ctx.labels.index_select(0, probe.train_index)
            fold_bytes = measure_fold_bytes(probe.model, probe.loss, views, labels, self.loaded.config.train)
            limit = stack_memory_limit(torch.cuda.mem_get_info(device)[0], fold_bytes)
        size = stack_size(setting, device, len(pending), memory_limit=limit)
        if setting == "auto":
            chosen = f"stacks of up to {size} folds" if size > 1 else "one fold after another"
            self.folder.log(f"train.stack_folds: auto: {chosen} on {device.type}"
                            + (f" ({limit} fit in half the free memory)" if limit is not None else ""))
        return size

    # ------------------------------------------------------------------ folds

    @property
    def todo(self) -> list[int]:
        """The folds not finished yet."""
        return [i for i in range(len(self.folds)) if i not in self.records]

    def groups(self) -> list[tuple[int, ...]]:
        """The unfinished folds in tasks of :attr:`stack` folds (in fold order)."""
        todo = self.todo
        return [tuple(todo[i:i + self.stack]) for i in range(0, len(todo), self.stack)]

    def log(self, line: str) -> None:
        """A line in run.log (and on screen, with the run's prefix)."""
        self.folder.log(line)

    def epoch_logger(self, index: int) -> Callable[[EpochStats], None]:
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
        sample_info = {s.id: {"subject": s.subject, "dataset": s.dataset} for s in self.data.samples}
        self.folder.write_predictions(self.finished(), self.context.outputs, sample_info)
        fold, total = self.folds[index], len(self.folds)
        if index not in self.live:
            self.tracking.replay_fold(index, fold.name, record["history"])
        self.tracking.end_fold(record)
        correct = sum(int(a == b) for a, b in zip(record["y_true"], record["y_pred"]))
        right = "correct" if self.context.task.target_kind == "classes" else "with every output right"
        trained = f"final train loss {record['history'][-1]['loss']:.4f}" if record["history"] else "fitted"
        self.log(f"fold {index + 1}/{total} {fold.name}: {correct}/{len(record['test_ids'])} {right}, "
                 f"{trained}, {record['seconds']:.1f} s")

    def finished(self) -> list[dict[str, Any]]:
        """The finished folds' records, in fold order."""
        return [self.records[i] for i in sorted(self.records)]

    # ------------------------------------------------------------------ finishing

    def finish(self) -> None:
        """Once every fold is in: metrics, the exported model (``output.export_model``), the report,
        and the trackers told."""
        records, data, folder, task = self.finished(), self.data, self.folder, self.context.task
        metrics = _score(records, data, task, self.context.outputs, len(self.folds))
        folder.save_metrics(metrics)
        if self.loaded.config.output.export_model:
            self._export()
        report = write_report(folder.path, name=self.loaded.config.name,
                              results=task.report(metrics, self.context.outputs, folder.path),
                              config_file=self.loaded.file, folds=list(records),
                              problems=data.problems, preprocessing=data.records,
                              settings_summary=_settings_summary(self.loaded), left_out=data.skipped_for_task)
        folder.log(f"report: {report}")
        self.tracking.finish(folder, metrics, records)
        folder.print_result(f"{task.summary(metrics)}\n{folder.path}")

    def _export(self) -> None:
        """Train one model on every sample (same recipe) and save it to ``model/`` for ``mertk predict``
        (:func:`mertk.artifact.save_artifact`: weights.safetensors + model.json)."""
        from mertk.artifact import save_artifact

        target = self.folder.path / "model" / "weights.safetensors"
        if target.exists():
            return
        self.folder.log("training the exported model on all samples")
        model, record = train_and_test(self.context, range(len(self.data.samples)), [],
                                       seed=self.loaded.config.seed + 10_000, desc="export")
        task = self.context.task
        save_artifact(target.parent, model, self.loaded.config, self.context.outputs,
                      {k: v.shape[1:] for k, v in self.data.views.items()}, info={"train_size": record["train_size"]},
                      task=task.name)


def _recipe(components: Components) -> PluginRecipe | str:
    try:
        return plugin_recipe(components)
    except PluginError as exc:  # fine as long as every fold runs in this process
        return str(exc)


def _why_no_samples(data: ExperimentData, folder: RunFolder) -> str:
    """Where to look when no sample is left: the skipped samples, the rows left out, or neither."""
    skipped = sum(p.fatal for p in data.problems)
    if skipped:
        return f"all {skipped} were skipped for the problems listed in {folder.path / 'problems.csv'}"
    if data.skipped_for_task:
        reasons = "; ".join(f"{n} x {reason}" for reason, n in sorted(data.skipped_for_task.items()))
        return f"the run's task cannot use any of them ({reasons}). Fix: choose data coded for the task " \
               "(for task aus: a dataset that released AU codes, e.g. casme2 or samm), or another task"
    if data.excluded:
        reasons = "; ".join(f"{n} x {reason}" for reason, n in sorted(data.excluded.items()))
        return f"every annotated row is outside the class protocol or left out on purpose ({reasons}). Fix: " \
               "check the dataset's classes argument"
    return "the dataset lists no samples. Fix: check the dataset's arguments (root, path) and its annotation file"


def _settings_summary(loaded: LoadedConfig) -> str:
    cfg = loaded.config
    t = cfg.train
    terms = [LOSS_TERM.split(ComponentSpec.of(s, kind="loss").as_mapping()) for s in cfg.loss]
    return (f"Model `{model_name(loaded)}`; losses: "
            + ", ".join(f"{spec['name']} x {options['weight']:g}" for spec, options in terms)
            + f". {t.epochs} epochs, batch {t.batch_size}, {t.optimizer.name} lr {t.optimizer.lr}, "
            f"weight decay {t.optimizer.weight_decay}, schedule {t.scheduler.name}, seed {cfg.seed}.")


def _data_fingerprint(data: ExperimentData, task: Task) -> dict[str, Any]:
    """The data part of the fingerprint: for the ``emotion`` task as before tasks existed (class names
    and labels); for another task its output names and each sample's target."""
    if task.target_kind == "classes":
        return fingerprint.data_fingerprint(data.samples, task.output_names(data.class_names))
    targets = task.targets(data.samples, data.class_names).round().to(torch.int64).tolist()
    return fingerprint.data_fingerprint(data.samples, task.output_names(data.class_names), targets)


def _score(records: Sequence[Mapping[str, Any]], data: ExperimentData, task: Task, outputs: Sequence[str],
           folds: int) -> dict[str, Any]:
    """The task's metrics of the pooled test predictions, overall and per source dataset."""
    dataset = {s.id: s.dataset for s in data.samples}
    y_true = [y for r in records for y in r["y_true"]]
    y_pred = [p for r in records for p in r["y_pred"]]
    groups = [dataset[i] for r in records for i in r["test_ids"]]
    metrics = task.evaluate(y_true, y_pred, outputs, groups)
    metrics.update(folds=folds, model_selection="last epoch")
    return metrics
