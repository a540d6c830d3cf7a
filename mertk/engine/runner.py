"""Run an experiment: data -> preprocessing -> protocol folds -> train/test per fold -> report.

Each fold's model is trained from scratch and tested as its last epoch left it; nothing is
selected on the test fold. Finished folds are written to the run folder at once, so an
interrupted run continues with ``mertk run --resume RUN_DIR`` from the unfinished folds. Where
the folds run (this process, worker processes, a Ray cluster) is the config's ``executor``;
:mod:`mertk.engine.fanout` hands them out and writes them as they arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mertk.api import Fold, Problem, Sample
from mertk.config import LOSS_TERM, LoadedConfig
from mertk.engine.report import summary_table, write_report
from mertk.engine.rundir import RunFolder, environment_info
from mertk.engine.tracking import RunTracking
from mertk.engine.trainer import (
    EpochStats,
    autocast_dtype,
    build_loss,
    build_model,
    predict,
    seed_everything,
    select_device,
    set_threads,
    train_model,
)
from mertk.errors import MertkError
from mertk.progress import progress_bar
from mertk.registry import Components

__all__ = ["ExperimentData", "load_data", "run_experiment", "run_fold", "train_and_test", "split_folds", "finish_run"]


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
    """

    samples: list[Sample]
    views: dict[str, torch.Tensor]
    class_names: tuple[str, ...]
    problems: list[Problem]
    records: list[dict[str, Any]] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)


def load_data(loaded: LoadedConfig, components: Components, *, executor: Any = None) -> ExperimentData:
    """Build the dataset, load it, preprocess the usable samples (the uncached clips on ``executor``
    when it is not a ``local`` one, see :func:`mertk.preprocess.pipeline.prepare`) and apply
    ``on_error``.

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
    prepared = prepare(load.samples, cfg.preprocess, components, on_error="skip", config_file=file,
                       executor=executor)
    problems = [*load.problems, *prepared.problems]
    stop_on_fatal(problems, cfg.on_error)
    by_id = {s.id: s for s in load.samples}
    samples = [by_id[i] for i in prepared.sample_ids]
    return ExperimentData(samples, dict(prepared.views), class_names, problems, list(prepared.records),
                          dict(load.excluded))


def train_and_test(loaded: LoadedConfig, components: Components, data: ExperimentData,
                   inputs: Mapping[str, torch.Tensor], labels: torch.Tensor, train: Sequence[int],
                   test: Sequence[int], *, seed: int, desc: str = "",
                   on_epoch: Callable[[EpochStats], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train a fresh model on ``train`` and predict ``test`` (indices into ``data.samples``).

    A model with a ``fit(views, labels)`` method is fitted on the training fold instead of
    trained by gradient descent; it then predicts through ``forward`` like any model.

    Args:
        inputs: Normalised views ``{name: (N, C, S, S)}`` on the training device.
        labels: ``(N,)`` int64 labels on the same device.
        seed: Seeds initialisation and batch order (a fold's result does not depend on the others).
        on_epoch: Called after every training epoch with its statistics.

    Returns:
        The trained model and a record with ``y_pred``, ``probs`` ``(len(test), K)``, per-epoch
        ``history`` and ``seconds``.
    """
    cfg, file = loaded.config, Path(loaded.file).name
    device = labels.device
    seed_everything(seed, cfg.train.deterministic)
    start = time.perf_counter()
    train_index = torch.as_tensor(list(train), dtype=torch.int64, device=device)
    train_views = {k: v.index_select(0, train_index) for k, v in inputs.items()}
    train_labels = labels.index_select(0, train_index)
    k = len(data.class_names)
    sample = {name: v[:2].cpu() for name, v in train_views.items()}
    model = build_model(cfg.model, components, num_classes=k, in_channels=next(iter(sample.values())).shape[1],
                        sample=sample, file=file).to(device)
    counts = torch.bincount(train_labels.cpu(), minlength=k).tolist()
    loss = build_loss(cfg.loss, components, num_classes=k, class_counts=counts, file=file).to(device)
    bar = progress_bar(total=cfg.train.epochs, desc=desc, leave=False, unit="epoch")

    def show_epoch(stats: EpochStats) -> None:
        bar.set_postfix(loss=f"{stats.loss:.4f}", acc=f"{stats.accuracy:.3f}")
        bar.update()
        if on_epoch is not None:
            on_epoch(stats)

    generator = torch.Generator().manual_seed(seed)
    try:
        if hasattr(model, "fit"):  # a fitted model (e.g. a linear SVM): no optimizer, no epochs
            model.fit(train_views, train_labels)
            history = []
        else:
            history = train_model(model, loss, train_views, train_labels, cfg.train, generator=generator,
                                  on_epoch=show_epoch)
    finally:
        bar.close()
    record: dict[str, Any] = {"history": [vars(h) for h in history], "train_size": len(train)}
    if len(test):
        test_index = torch.as_tensor(list(test), dtype=torch.int64, device=device)
        probs = predict(model, {k_: v.index_select(0, test_index) for k_, v in inputs.items()},
                        batch_size=max(cfg.train.batch_size, 256), precision=cfg.train.precision)
        record["probs"] = probs.tolist()
        record["y_pred"] = probs.argmax(1).tolist()
    record["seconds"] = time.perf_counter() - start
    return model, record


def _check_folds(folds: Sequence[Fold], n: int, protocol: Any) -> None:
    seen: list[int] = sorted(i for f in folds for i in f.test)
    if seen != list(range(n)):
        raise MertkError(f"protocol {protocol!r} does not test every sample exactly once "
                         f"({len(seen)} test slots for {n} samples); check its settings")


def _settings_summary(loaded: LoadedConfig) -> str:
    cfg = loaded.config
    t = cfg.train
    terms = [LOSS_TERM.split({"name": s} if isinstance(s, str) else s) for s in cfg.loss]
    return (f"Model `{cfg.model if isinstance(cfg.model, str) else cfg.model.get('name')}`; losses: "
            + ", ".join(f"{spec['name']} x {options['weight']:g}" for spec, options in terms)
            + f". {t.epochs} epochs, batch {t.batch_size}, {t.optimizer.name} lr {t.optimizer.lr}, "
            f"weight decay {t.optimizer.weight_decay}, schedule {t.scheduler.name}, seed {cfg.seed}.")


def run_fold(loaded: LoadedConfig, components: Components, data: ExperimentData,
             inputs: Mapping[str, torch.Tensor], labels: torch.Tensor, fold: Fold, index: int, *,
             total: int,
             on_epoch: Callable[[EpochStats], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train and test fold ``index`` of ``total``: the unit of work of an experiment.

    Its result depends only on its arguments (the fold is seeded with ``seed + index``), not on
    which folds ran before it or where, so folds can run in any order, in other processes.

    Args:
        inputs: Normalised views ``{name: (N, C, S, S)}`` on the training device.
        labels: ``(N,)`` int64 labels on the same device.
        on_epoch: Called after every training epoch with its statistics.

    Returns:
        The trained model and the fold's record, as :meth:`RunFolder.save_fold` stores it:
        :func:`train_and_test`'s record plus ``index``, ``name``, ``test_ids`` and ``y_true``.
    """
    model, record = train_and_test(loaded, components, data, inputs, labels, fold.train, fold.test,
                                   seed=loaded.config.seed + index,
                                   desc=f"fold {index + 1}/{total} {fold.name}", on_epoch=on_epoch)
    record.update(index=index, name=fold.name, test_ids=[data.samples[i].id for i in fold.test],
                  y_true=[int(labels[i]) for i in fold.test])
    return model, record


def run_experiment(loaded: LoadedConfig, components: Components, *, run_dir: Path | None = None,
                   resume: bool = False) -> Path:
    """Run (or resume) the evaluation ``loaded`` describes; returns the run folder.

    The folds run on the config's ``executor`` (:mod:`mertk.engine.fanout`); each finished fold
    is written to the run folder as it arrives, whichever executor ran it.

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
    from mertk.engine.fanout import RunRequest, run_experiments

    return run_experiments([RunRequest(loaded, run_dir, resume)], components)[0]


def split_folds(loaded: LoadedConfig, components: Components, data: ExperimentData) -> list[Fold]:
    """The config's protocol applied to the kept samples, checked to test every sample once."""
    folds = components.build("protocol", loaded.config.protocol, file=Path(loaded.file).name,
                             key="protocol").split(data.samples)
    _check_folds(folds, len(data.samples), loaded.config.protocol)
    return folds


def finish_run(loaded: LoadedConfig, components: Components, data: ExperimentData,
               inputs: Mapping[str, torch.Tensor], labels: torch.Tensor, folder: RunFolder,
               records: Sequence[dict[str, Any]], folds: int, tracking: RunTracking | None = None) -> None:
    """Once every fold is in: metrics, the exported model (``output.export_model``), the report,
    and the trackers told (``tracking``)."""
    metrics = _score(records, data, folds)
    folder.save_metrics(metrics)
    if loaded.config.output.export_model:
        _export(loaded, components, data, inputs, labels, folder)
    report = write_report(folder.path, name=loaded.config.name, metrics=metrics, class_names=data.class_names,
                          config_file=loaded.file, folds=list(records), problems=data.problems,
                          preprocessing=data.records, settings_summary=_settings_summary(loaded))
    folder.log(f"report: {report}")
    if tracking is not None:
        tracking.finish(folder, metrics, records)
    print(summary_table(metrics))
    print(folder.path)


def _open_run_folder(loaded: LoadedConfig, run_dir: Path | None, resume: bool,
                     executor: str = "") -> tuple[RunFolder, torch.device]:
    """Create (or reopen) the run folder, save the config and environment (``executor``: where the
    folds run, in words); returns it and the device."""
    cfg = loaded.config
    if resume:
        if run_dir is None:
            raise MertkError("resume needs the run folder (mertk run --resume RUN_DIR)")
        folder = RunFolder.open(run_dir)
    else:
        folder = RunFolder.create(cfg.output.dir, cfg.name, run_dir)
    folder.save_config(loaded.data)
    threads = set_threads(cfg.train.threads)
    device = select_device(cfg.train.device)
    arithmetic = "bf16 autocast" if autocast_dtype(cfg.train.precision, device) else "fp32"
    folder.save_environment({**environment_info(device, threads.count, arithmetic),
                             "threads_reason": threads.reason, "executor": executor})
    folder.log(f"{'resuming' if resume else 'run'} {cfg.name}: {folder.path} "
               f"(device {device}, {threads.count} threads: {threads.reason}; {arithmetic}; executor {executor})")
    return folder, device


def _load_and_record_data(loaded: LoadedConfig, components: Components, folder: RunFolder,
                          executor: Any = None) -> ExperimentData:
    """Load and preprocess the data (uncached clips on ``executor``, unless it is ``local``); write
    problems.csv and preprocessing.csv; refuse no samples.

    An error that stops the run here is written to ``run.log`` too, with every data problem in
    ``problems.csv``.
    """
    try:
        data = load_data(loaded, components, executor=executor)
    except MertkError as exc:
        folder.save_problems(getattr(exc, "problems", []))
        folder.log(f"stopped: {exc}", echo=False)  # the command line prints it
        raise
    folder.save_problems(data.problems)
    folder.save_preprocessing([s.id for s in data.samples], data.records)
    skipped = sum(p.fatal for p in data.problems)
    folder.log(f"data: {len(data.samples)} samples, {len(data.class_names)} classes"
               + (f", {skipped} skipped (problems.csv)" if skipped else ""))
    if not data.samples:
        error = MertkError(f"{loaded.file}: no usable samples; " + _why_no_samples(data, folder))
        folder.log(f"stopped: {error}", echo=False)
        raise error
    return data


def _why_no_samples(data: ExperimentData, folder: RunFolder) -> str:
    """Where to look when no sample is left: the skipped samples, the rows left out, or neither."""
    skipped = sum(p.fatal for p in data.problems)
    if skipped:
        return f"all {skipped} were skipped for the problems listed in {folder.path / 'problems.csv'}"
    if data.excluded:
        reasons = "; ".join(f"{n} x {reason}" for reason, n in sorted(data.excluded.items()))
        return f"every annotated row is outside the class protocol or left out on purpose ({reasons}). Fix: " \
               "check the dataset's classes argument"
    return "the dataset lists no samples. Fix: check the dataset's arguments (root, path) and its annotation file"


def _finished_fold(folder: RunFolder, index: int, fold: Fold, data: ExperimentData) -> dict[str, Any] | None:
    """The saved record of a fold finished earlier, checked against this run's fold; ``None`` if none."""
    done = folder.load_fold(index)
    test_ids = [data.samples[i].id for i in fold.test]
    if done is not None and (done.get("test_ids") != test_ids or done.get("name") != fold.name):
        raise MertkError(f"{folder.fold_path(index)}: fold {index} ({done.get('name')}) tested other samples "
                         f"than this run's fold {fold.name}; the data or the protocol changed since the run "
                         "started. Start a new run instead of resuming this one.")
    return done


def _score(records: Sequence[Mapping[str, Any]], data: ExperimentData, folds: int) -> dict[str, Any]:
    """Metrics of the pooled test predictions, overall and per source dataset."""
    from mertk.evaluation.metrics import evaluate

    dataset = {s.id: s.dataset for s in data.samples}
    y_true = [y for r in records for y in r["y_true"]]
    y_pred = [p for r in records for p in r["y_pred"]]
    groups = [dataset[i] for r in records for i in r["test_ids"]]
    metrics = evaluate(y_true, y_pred, class_names=data.class_names, groups=groups)
    metrics.update(class_names=list(data.class_names), folds=folds, model_selection="last epoch")
    return metrics


def _export(loaded: LoadedConfig, components: Components, data: ExperimentData, inputs: Mapping[str, torch.Tensor],
            labels: torch.Tensor, folder: RunFolder) -> None:
    """Train one model on every sample (same recipe) and save it to ``model/`` for ``mertk predict``
    (:func:`mertk.artifact.save_artifact`: weights.safetensors + model.json)."""
    from mertk.artifact import save_artifact

    target = folder.path / "model" / "weights.safetensors"
    if target.exists():
        return
    folder.log("training the exported model on all samples")
    model, record = train_and_test(loaded, components, data, inputs, labels, range(len(data.samples)), [],
                                   seed=loaded.config.seed + 10_000, desc="export")
    save_artifact(target.parent, model, loaded.config, data.class_names,
                  {k: v.shape[1:] for k, v in data.views.items()}, info={"train_size": record["train_size"]})
