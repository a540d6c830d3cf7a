"""Training and testing folds: the unit of work an executor runs, in whichever process.

A run's folds share one :class:`FoldContext`: the config, the components, the samples and the
normalised model inputs on the training device. It is frozen and built once per process: the
driver builds it while it opens the run (:class:`mertk.engine.run.Run`) and attaches it to the
run's :class:`FoldJob`; a worker process receives the job without it (it does not travel by
pickle) and rebuilds it once, from the job (:func:`fold_context`).

:func:`train_folds` trains folds of a context, one alone or several as one stack
(``train.stack_folds``), through one training loop (:func:`mertk.engine.trainer.run_epochs`
over a :class:`~mertk.engine.trainer.Trainer` or a
:class:`~mertk.engine.stacked.StackedTrainer`), and tests each. A fold's result depends only on
the context and its number (it is seeded with ``seed + index``), not on which folds ran before
it or where.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from mertk.api import Fitted, Fold, Sample, Task
from mertk.config import LoadedConfig, validate_config
from mertk.engine.stacked import StackedTrainer, StackingError, fork_default_generator
from mertk.engine.trainer import (
    EpochStats,
    Trainer,
    TrainingLoop,
    build_loss,
    build_model,
    normalize_views,
    predict,
    run_epochs,
    seed_everything,
    select_device,
)
from mertk.errors import MertkError, PluginError
from mertk.plugins import PluginRecipe
from mertk.progress import progress_bar
from mertk.registry import Components, ComponentSpec

__all__ = ["FoldContext", "FoldJob", "FoldSetup", "TrainedFold", "fold_context", "fold_task", "train_folds",
           "setup_fold", "train_and_test", "model_name", "build_task", "warm_up"]

#: Per fold: its record, and the trained model's weights (CPU tensors) when the run keeps checkpoints.
FoldResult = tuple[dict[str, Any], "dict[str, torch.Tensor] | None"]


@dataclass(frozen=True)
class FoldContext:
    """What every fold of one run needs, in one process; frozen, so no fold changes another's.

    Attributes:
        loaded: The validated config.
        components: Registries to build the model and the loss from.
        samples: The run's kept samples (fold records name them).
        class_names: The dataset's class names.
        inputs: Normalised views ``{name: (N, C, S, S)}`` on the training device.
        labels: The task's targets on the same device (:meth:`mertk.api.Task.targets`): ``(N,)``
            int64 classes or ``(N, K)`` float multi-hot.
        folds: The run's folds (indices into ``samples``).
        checkpoints: Return each fold model's weights (``output.checkpoints``).
        epoch_logger: In the driver: fold index -> its per-epoch callback (live history and
            trackers); ``None`` in a worker, whose epochs reach the driver with the record.
        task: The run's task (built from the config's ``task`` when not given).
    """

    loaded: LoadedConfig
    components: Components
    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]
    inputs: Mapping[str, torch.Tensor]
    labels: torch.Tensor
    folds: tuple[Fold, ...]
    checkpoints: bool = False
    epoch_logger: Callable[[int], Callable[[EpochStats], None]] | None = field(default=None, compare=False)
    task: Task = field(default=None, compare=False)  # type: ignore[assignment]  # built in __post_init__

    def __post_init__(self) -> None:
        if self.task is None:
            object.__setattr__(self, "task", build_task(self.loaded, self.components))

    @property
    def file(self) -> str:
        """The config's file name, for messages."""
        return Path(self.loaded.file).name

    @property
    def outputs(self) -> tuple[str, ...]:
        """The names of the model's ``K`` outputs (:meth:`mertk.api.Task.output_names`)."""
        return self.task.output_names(self.class_names)


def build_task(loaded: LoadedConfig, components: Components) -> Task:
    """The run's task, from the config's ``task`` key (``emotion`` when it has none)."""
    return components.build("task", loaded.config.task or "emotion", file=Path(loaded.file).name, key="task")


@dataclass(frozen=True, eq=False)
class FoldJob:
    """Everything a worker needs to run any fold of one run; sent to each worker once.

    Jobs are equal when their keys are (a worker keeps the context it built per job).

    Attributes:
        key: Unique id of the job.
        config: The run's config as plain data (``LoadedConfig.data``), validated again in the
            worker against the plugins it loaded: the validated model class is built from the
            registered sections at run time, so it does not travel by pickle.
        config_file: The config's file, for messages.
        plugins: How to load the run's plugins in another process, or why that is impossible.
        samples: The kept samples.
        class_names: The dataset's class names.
        views: View name -> ``(N, C, S, S)`` float32 in ``[0, 1]``, as preprocessing made them.
        labels: The task's targets, ``(N,)`` int64 or ``(N, K)`` float32.
        folds: The run's folds.
        checkpoints: Return each fold model's weights (``output.checkpoints``).
        context: The driver's own context for this job (not pickled: a worker builds its own).
    """

    key: str
    config: dict[str, Any]
    config_file: str
    plugins: PluginRecipe | str
    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]
    views: dict[str, np.ndarray]
    labels: np.ndarray
    folds: tuple[Fold, ...]
    checkpoints: bool
    context: FoldContext | None = field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FoldJob) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __getstate__(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self.__dataclass_fields__}, "context": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)


def fold_context(job: FoldJob) -> FoldContext:
    """The job's context: the driver's own, else the one this process built from the job
    (once per job and process)."""
    return job.context if job.context is not None else _built_context(job)


@functools.lru_cache(maxsize=4)  # a bench sends one job per run; a worker keeps the last few
def _built_context(job: FoldJob) -> FoldContext:
    """Rebuild a run's components and model inputs from ``job`` in a worker process."""
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
    return FoldContext(loaded, components, job.samples, job.class_names, inputs,
                       torch.from_numpy(np.array(job.labels)).to(device), job.folds, job.checkpoints)


def fold_task(jobs: Mapping[str, FoldJob], task: tuple[str, tuple[int, ...]]) -> list[FoldResult]:
    """The executor's task: folds ``indices`` of job ``key`` (``task = (key, indices)``), with
    :func:`train_folds` on the job's context.

    Returns:
        Per fold, in ``indices`` order: its record, and the trained model's weights (CPU tensors)
        when the job keeps checkpoints, else ``None``.
    """
    key, indices = task
    ctx = fold_context(jobs[key])
    return [(trained.record, _weights(trained.model) if ctx.checkpoints else None)
            for trained in train_folds(ctx, indices)]


def warm_up() -> None:
    """Pay now, in a worker process that starts before its first fold, for what a fold would import
    on first use: building a torch optimizer imports ``torch._dynamo`` (1-2 s on a 2-core machine,
    ``benchmarks/worker_startup.py``)."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


class TrainedFold(NamedTuple):
    """A trained fold: its model and its record, as :meth:`RunFolder.save_fold` stores it."""

    model: torch.nn.Module
    record: dict[str, Any]


def train_folds(ctx: FoldContext, indices: Sequence[int]) -> list[TrainedFold]:
    """Train and test folds ``indices`` of ``ctx``: one alone, several as one stack.

    Each record has ``history`` (one :class:`EpochStats` per epoch, the same columns either way),
    ``train_size``, ``probs`` (the task's scores), ``y_pred`` (its decisions), ``seconds``, ``index``,
    ``name``, ``test_ids`` and ``y_true`` (a class each, or a 0/1 list per output); a stack's
    records add ``stack`` (the folds trained together; ``seconds`` is the stack's time shared
    equally). A stack whose model cannot be computed stacked fails with the fix when
    ``train.stack_folds`` asked for it; under ``auto`` its folds train one after another, each
    record saying why in ``stack_fallback``.
    """
    total = len(ctx.folds)
    fallback = None
    if len(indices) > 1:
        plans = [_Plan(ctx.folds[i].train, ctx.folds[i].test, ctx.loaded.config.seed + i) for i in indices]
        try:
            trained = _train(ctx, plans, desc=f"folds {indices[0] + 1}-{indices[-1] + 1}/{total} stacked")
        except StackingError as exc:
            name = model_name(ctx.loaded)
            if ctx.loaded.config.train.stack_folds != "auto":
                raise MertkError(f"{ctx.file}: train.stack_folds: model {name!r} cannot be trained stacked ({exc}). "
                                 "Set train.stack_folds: off, or auto to train it one fold after another.") from exc
            fallback = f"model {name!r} failed stacked ({exc})"
        else:
            for index, result in zip(indices, trained):  # the record's keys in the run folder's usual order
                seconds = result.record.pop("seconds")
                result.record["stack"] = list(indices)
                _identify(ctx, result, index)["seconds"] = seconds
            return trained
    results = []
    for index in indices:
        fold = ctx.folds[index]
        on_epoch = ctx.epoch_logger(index) if ctx.epoch_logger is not None else None
        plan = _Plan(fold.train, fold.test, ctx.loaded.config.seed + index, on_epoch)
        result = _train(ctx, [plan], desc=f"fold {index + 1}/{total} {fold.name}")[0]
        _identify(ctx, result, index)
        if fallback:
            result.record["stack_fallback"] = fallback
        results.append(result)
    return results


def train_and_test(ctx: FoldContext, train: Sequence[int], test: Sequence[int], *, seed: int, desc: str = "",
                   on_epoch: Callable[[EpochStats], None] | None = None) -> TrainedFold:
    """Train a fresh model on the samples ``train`` and predict ``test`` (indices into
    ``ctx.samples``), as a fold is trained; the exported model is trained this way on every sample.

    Returns:
        The model and a record with ``history``, ``train_size``, ``probs``, ``y_pred`` (when
        ``test`` is not empty) and ``seconds``.
    """
    return _train(ctx, [_Plan(train, test, seed, on_epoch)], desc=desc)[0]


def model_name(loaded: LoadedConfig) -> str:
    """The config's model name, for messages."""
    return ComponentSpec.of(loaded.config.model, kind="model").name


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


def setup_fold(ctx: FoldContext, train: Sequence[int], *, seed: int) -> FoldSetup:
    """Seed with ``seed``, then build the model and the loss for training on ``train``."""
    cfg, labels = ctx.loaded.config, ctx.labels
    seed_everything(seed, cfg.train.deterministic)
    train_index = torch.as_tensor(list(train), dtype=torch.int64, device=labels.device)
    k = len(ctx.outputs)
    sample = {name: v.index_select(0, train_index[:2]).cpu() for name, v in ctx.inputs.items()}
    model = build_model(cfg.model, ctx.components, num_classes=k, in_channels=next(iter(sample.values())).shape[1],
                        sample=sample, file=ctx.file).to(labels.device)
    counts = ctx.task.counts(labels.index_select(0, train_index), k)
    loss = build_loss(cfg.loss, ctx.components, num_classes=k, class_counts=counts, num_samples=len(train_index),
                      file=ctx.file).to(labels.device)
    return FoldSetup(model, loss, train_index, torch.Generator().manual_seed(seed),
                     fork_default_generator(labels.device))


@dataclass(frozen=True)
class _Plan:
    """One model to train: its training and test samples, its seed and its per-epoch callback."""

    train: Sequence[int]
    test: Sequence[int]
    seed: int
    on_epoch: Callable[[EpochStats], None] | None = None


def _train(ctx: FoldContext, plans: Sequence[_Plan], *, desc: str) -> list[TrainedFold]:
    """Build, train (one :class:`TrainingLoop` for all ``plans``) and test a model per plan.

    A model with a ``fit(views, labels)`` method (one plan only: such a model cannot stack) is
    fitted on its training samples instead of trained by gradient descent, and has no history.

    Raises:
        StackingError: several plans whose model cannot be computed stacked; nothing was trained.
    """
    settings = ctx.loaded.config.train
    start = time.perf_counter()
    setups = [setup_fold(ctx, plan.train, seed=plan.seed) for plan in plans]
    bar = progress_bar(total=settings.epochs, desc=desc, leave=False, unit="epoch")

    def show_epoch(stats: list[EpochStats]) -> None:
        bar.set_postfix(loss=f"{sum(s.loss for s in stats) / len(stats):.4f}",
                        acc=f"{sum(s.accuracy for s in stats) / len(stats):.3f}")
        bar.update()
        for plan, one in zip(plans, stats):
            if plan.on_epoch is not None:
                plan.on_epoch(one)

    try:
        if len(setups) == 1 and isinstance(setups[0].model, Fitted):  # e.g. a linear SVM: no optimizer, no epochs
            setup = setups[0]  # a fitted model learns class labels only: the config check refused it for other tasks
            setup.model.fit({k: v.index_select(0, setup.train_index) for k, v in ctx.inputs.items()},
                            ctx.labels.index_select(0, setup.train_index))
            histories: list[list[EpochStats]] = [[]]
        else:
            histories = run_epochs(_loop(ctx, setups), settings.epochs, show_epoch) or [[] for _ in setups]
    finally:
        bar.close()
    results = [TrainedFold(setup.model, {"history": [vars(h) for h in history], "train_size": len(plan.train),
                                         **_test(ctx, setup.model, plan.test)})
               for plan, setup, history in zip(plans, setups, histories)]
    seconds = (time.perf_counter() - start) / len(plans)
    for result in results:
        result.record["seconds"] = seconds
    return results


def _loop(ctx: FoldContext, setups: Sequence[FoldSetup]) -> TrainingLoop:
    """A :class:`Trainer` on one fold's training samples, or a :class:`StackedTrainer` for several."""
    settings = ctx.loaded.config.train
    if len(setups) == 1:
        setup = setups[0]
        views = {k: v.index_select(0, setup.train_index) for k, v in ctx.inputs.items()}
        return Trainer(setup.model, setup.loss, views, ctx.labels.index_select(0, setup.train_index), settings,
                       generator=setup.generator, hits=ctx.task.hits)
    return StackedTrainer([s.model for s in setups], [s.loss for s in setups], ctx.inputs, ctx.labels,
                          [s.train_index for s in setups], settings, generators=[s.generator for s in setups],
                          dropout_generators=[s.dropout_generator for s in setups], hits=ctx.task.hits)


def _test(ctx: FoldContext, model: torch.nn.Module, test: Sequence[int]) -> dict[str, Any]:
    """``probs`` (the task's scores) and ``y_pred`` (its decisions) of ``model`` on the samples
    ``test`` (nothing when there are none)."""
    if not len(test):
        return {}
    settings = ctx.loaded.config.train
    test_index = torch.as_tensor(list(test), dtype=torch.int64, device=ctx.labels.device)
    probs = predict(model, {k: v.index_select(0, test_index) for k, v in ctx.inputs.items()},
                    batch_size=max(settings.batch_size, 256), precision=settings.precision, scores=ctx.task.scores)
    return {"probs": probs.tolist(), "y_pred": ctx.task.decide(probs).tolist()}


def _identify(ctx: FoldContext, trained: TrainedFold, index: int) -> dict[str, Any]:
    """``trained``'s record, naming fold ``index``: ``index``, ``name``, ``test_ids``, ``y_true``."""
    fold = ctx.folds[index]
    targets = ctx.labels.index_select(0, torch.as_tensor(list(fold.test), dtype=torch.int64, device=ctx.labels.device))
    trained.record.update(index=index, name=fold.name, test_ids=[ctx.samples[i].id for i in fold.test],
                          y_true=targets.round().to(torch.int64).tolist())
    return trained.record
