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
from mertk.engine import fingerprint
from mertk.engine.report import summary_table, write_report
from mertk.engine.rundir import DamagedFold, RunFolder, environment_info
from mertk.engine.stackable import stacking_obstacle
from mertk.engine.stacked import (
    fork_default_generator,
    measure_fold_bytes,
    stack_memory_limit,
    stack_size,
    train_stacked,
)
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
from mertk.evaluation.classes import check_classes, check_fold_classes
from mertk.progress import progress_bar
from mertk.registry import Components

__all__ = ["ExperimentData", "FoldSetup", "load_data", "run_experiment", "run_fold", "run_fold_stack",
           "setup_fold", "train_and_test", "split_folds", "finish_run"]


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
    check_classes(load.samples, class_names, source=f"{file}: dataset")  # before hours of preprocessing
    prepared = prepare(load.samples, cfg.preprocess, components, on_error="skip", config_file=file,
                       executor=executor)
    problems = [*load.problems, *prepared.problems]
    stop_on_fatal(problems, cfg.on_error)
    by_id = {s.id: s for s in load.samples}
    samples = [by_id[i] for i in prepared.sample_ids]
    return ExperimentData(samples, dict(prepared.views), class_names, problems, list(prepared.records),
                          dict(load.excluded))


@dataclass
class FoldSetup:
    """One fold ready to train: a fresh model and loss, its training samples and generators.

    Attributes:
        model: The built (materialised) model on the training device.
        loss: The loss, with the fold's class counts.
        train_index: ``(n,)`` int64 indices of the training samples, on the device.
        generator: The batch-order generator (CPU).
        dropout_generator: A fork of the device's default generator where training starts
            (:func:`mertk.engine.stacked.fork_default_generator`), for stacked training.
    """

    model: torch.nn.Module
    loss: torch.nn.Module
    train_index: torch.Tensor
    generator: torch.Generator
    dropout_generator: torch.Generator


def setup_fold(loaded: LoadedConfig, components: Components, data: ExperimentData,
               inputs: Mapping[str, torch.Tensor], labels: torch.Tensor, train: Sequence[int], *,
               seed: int) -> FoldSetup:
    """Seed with ``seed``, then build the model and the loss for training on ``train``."""
    cfg, file = loaded.config, Path(loaded.file).name
    device = labels.device
    seed_everything(seed, cfg.train.deterministic)
    train_index = torch.as_tensor(list(train), dtype=torch.int64, device=device)
    k = len(data.class_names)
    sample = {name: v.index_select(0, train_index[:2]).cpu() for name, v in inputs.items()}
    model = build_model(cfg.model, components, num_classes=k, in_channels=next(iter(sample.values())).shape[1],
                        sample=sample, file=file).to(device)
    counts = torch.bincount(labels.index_select(0, train_index).cpu(), minlength=k).tolist()
    loss = build_loss(cfg.loss, components, num_classes=k, class_counts=counts, file=file).to(device)
    return FoldSetup(model, loss, train_index, torch.Generator().manual_seed(seed), fork_default_generator(device))


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
    cfg = loaded.config
    start = time.perf_counter()
    fold = setup_fold(loaded, components, data, inputs, labels, train, seed=seed)
    model = fold.model
    train_views = {k: v.index_select(0, fold.train_index) for k, v in inputs.items()}
    train_labels = labels.index_select(0, fold.train_index)
    bar = progress_bar(total=cfg.train.epochs, desc=desc, leave=False, unit="epoch")

    def show_epoch(stats: EpochStats) -> None:
        bar.set_postfix(loss=f"{stats.loss:.4f}", acc=f"{stats.accuracy:.3f}")
        bar.update()
        if on_epoch is not None:
            on_epoch(stats)

    try:
        if hasattr(model, "fit"):  # a fitted model (e.g. a linear SVM): no optimizer, no epochs
            model.fit(train_views, train_labels)
            history = []
        else:
            history = train_model(model, fold.loss, train_views, train_labels, cfg.train, generator=fold.generator,
                                  on_epoch=show_epoch)
    finally:
        bar.close()
    record: dict[str, Any] = {"history": [vars(h) for h in history], "train_size": len(train),
                              **_test(loaded, model, inputs, test)}
    record["seconds"] = time.perf_counter() - start
    return model, record


def _test(loaded: LoadedConfig, model: torch.nn.Module, inputs: Mapping[str, torch.Tensor],
          test: Sequence[int]) -> dict[str, Any]:
    """``probs`` and ``y_pred`` of ``model`` on the samples ``test`` (nothing when there are none)."""
    if not len(test):
        return {}
    train = loaded.config.train
    device = next(iter(inputs.values())).device
    test_index = torch.as_tensor(list(test), dtype=torch.int64, device=device)
    probs = predict(model, {k: v.index_select(0, test_index) for k, v in inputs.items()},
                    batch_size=max(train.batch_size, 256), precision=train.precision)
    return {"probs": probs.tolist(), "y_pred": probs.argmax(1).tolist()}


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
    return model, _identify(record, data, labels, fold, index)


def _identify(record: dict[str, Any], data: ExperimentData, labels: torch.Tensor, fold: Fold,
              index: int) -> dict[str, Any]:
    record.update(index=index, name=fold.name, test_ids=[data.samples[i].id for i in fold.test],
                  y_true=[int(labels[i]) for i in fold.test])
    return record


def run_fold_stack(loaded: LoadedConfig, components: Components, data: ExperimentData,
                   inputs: Mapping[str, torch.Tensor], labels: torch.Tensor, folds: Sequence[tuple[int, Fold]], *,
                   total: int) -> list[tuple[torch.nn.Module, dict[str, Any]]]:
    """Train several folds at once, stacked (:mod:`mertk.engine.stacked`), and test each.

    ``folds`` are ``(index, fold)`` pairs; for each, the result is what :func:`run_fold` gives
    (the same model up to floating-point summation order), with ``seconds`` the stack's time
    shared equally and ``stack`` the indices of the folds trained together. Like a fold, a stack
    depends only on its arguments: it is one unit of work.

    Raises:
        StackingError: the model cannot be computed stacked; nothing was trained.
    """
    cfg = loaded.config
    start = time.perf_counter()
    setups = [setup_fold(loaded, components, data, inputs, labels, fold.train, seed=cfg.seed + index)
              for index, fold in folds]
    first, last = folds[0][0] + 1, folds[-1][0] + 1
    bar = progress_bar(total=cfg.train.epochs, desc=f"folds {first}-{last}/{total} stacked", leave=False,
                       unit="epoch")

    def on_epoch(stats: list[EpochStats]) -> None:
        bar.set_postfix(loss=f"{sum(s.loss for s in stats) / len(stats):.4f}")
        bar.update()

    try:
        histories = train_stacked([s.model for s in setups], [s.loss for s in setups], inputs, labels,
                                  [s.train_index for s in setups], cfg.train,
                                  generators=[s.generator for s in setups],
                                  dropout_generators=[s.dropout_generator for s in setups], on_epoch=on_epoch)
    finally:
        bar.close()
    results = []
    for (index, fold), setup, history in zip(folds, setups, histories):
        record = {"history": [vars(h) for h in history], "train_size": len(fold.train),
                  **_test(loaded, setup.model, inputs, fold.test), "stack": [i for i, _ in folds]}
        results.append((setup.model, _identify(record, data, labels, fold, index)))
    seconds = (time.perf_counter() - start) / len(folds)
    for _, record in results:
        record["seconds"] = seconds
    return results


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
    file, protocol = Path(loaded.file).name, loaded.config.protocol
    check_classes(data.samples, data.class_names, source=f"{file}: dataset")
    check_fold_classes(folds, data.samples, data.class_names,
                       source=f"{file}: protocol {protocol.get('name') if isinstance(protocol, dict) else protocol!r}")
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
    folder.print_result(f"{summary_table(metrics)}\n{folder.path}")


def _open_run_folder(loaded: LoadedConfig, run_dir: Path | None, resume: bool,
                     executor: str = "", recipe: Mapping[str, Any] | None = None,
                     prefix: str = "") -> tuple[RunFolder, torch.device]:
    """Create (or reopen) the run folder, save the environment (``executor``: where the folds run,
    in words) and, in a new folder, the config and its ``recipe`` fingerprint
    (:func:`mertk.engine.fingerprint.recipe_fingerprint`); returns it and the device. ``prefix``
    goes before every line the run prints (:attr:`RunFolder.prefix`).

    Raises:
        MertkError: resuming with a recipe other than the recorded one (nothing is written).
    """
    cfg = loaded.config
    if resume:
        if run_dir is None:
            raise MertkError("resume needs the run folder (mertk run --resume RUN_DIR)")
        folder = RunFolder.open(run_dir)
    else:
        folder = RunFolder.create(cfg.output.dir, cfg.name, run_dir)
    folder.prefix = prefix
    try:
        return folder, _record_start(loaded, folder, resume, executor, recipe)
    except BaseException:
        folder.release()
        raise


def _record_start(loaded: LoadedConfig, folder: RunFolder, resume: bool, executor: str,
                  recipe: Mapping[str, Any] | None) -> torch.device:
    """Check a resumed run's ``recipe`` against the recorded one; save the config (a new run only),
    the fingerprint and the environment of a run starting (or resuming) in ``folder``; its device."""
    cfg = loaded.config
    legacy = fingerprint.check_resume(folder, loaded, recipe) if resume and recipe is not None else None
    if not resume:
        folder.save_config(loaded.data)
    if recipe is not None and (legacy or not resume):
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
    try:  # before anything is written: a resume on other data is refused
        fingerprint.check_data(folder, fingerprint.data_fingerprint(data.samples, data.class_names))
    except MertkError as exc:
        folder.log(f"stopped: {exc}", echo=False)
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


def _model_name(loaded: LoadedConfig) -> str:
    model = loaded.config.model
    return model if isinstance(model, str) else model.get("name", "?")


def _stack_size(loaded: LoadedConfig, components: Components, data: ExperimentData,
                inputs: Mapping[str, torch.Tensor], labels: torch.Tensor, pending: Sequence[tuple[int, Fold]],
                folder: RunFolder) -> int:
    """Folds per stack from ``train.stack_folds`` (1: one after another); logs what ``auto`` chose."""
    setting, device = loaded.config.train.stack_folds, labels.device
    if setting in ("off", 1) or len(pending) < 2:
        return 1
    reason = stacking_obstacle(loaded.config, components)
    if reason is not None:  # an explicit number was refused when the config was checked
        folder.log(f"train.stack_folds: auto: one fold after another; {reason}")
        return 1
    limit = None
    if setting == "auto" and device.type == "cuda":
        probe = setup_fold(loaded, components, data, inputs, labels, pending[0][1].train, seed=loaded.config.seed)
        views = {k: v.index_select(0, probe.train_index) for k, v in inputs.items()}
        fold_bytes = measure_fold_bytes(probe.model, probe.loss, views, labels.index_select(0, probe.train_index),
                                        loaded.config.train)
        limit = stack_memory_limit(torch.cuda.mem_get_info(device)[0], fold_bytes)
    size = stack_size(setting, device, len(pending), memory_limit=limit)
    if setting == "auto":
        chosen = f"stacks of up to {size} folds" if size > 1 else "one fold after another"
        folder.log(f"train.stack_folds: auto: {chosen} on {device.type}"
                   + (f" ({limit} fit in half the free memory)" if limit is not None else ""))
    return size


def _finished_fold(folder: RunFolder, index: int, fold: Fold, data: ExperimentData) -> dict[str, Any] | None:
    """The saved record of a fold finished earlier, checked against this run's fold; ``None`` if none
    (or if its file is damaged: it is set aside, said in run.log and on screen, and the fold retrained)."""
    try:
        done = folder.load_fold(index)
    except DamagedFold as exc:
        kept = folder.set_aside(folder.fold_path(index))
        folder.log(f"{exc}; moved to {kept.name}, fold {index + 1} {fold.name} is trained again")
        return None
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
