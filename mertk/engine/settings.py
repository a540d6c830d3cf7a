"""The ``train`` and ``output`` sections of a run config."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic

from mertk.settings import Strict, component


class OptimizerSettings(Strict):
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: Annotated[float, pydantic.Field(gt=0)] = 1e-3
    weight_decay: Annotated[float, pydantic.Field(ge=0)] = 0.0
    momentum: Annotated[float, pydantic.Field(ge=0, le=1)] = 0.9
    """SGD only."""


class SchedulerSettings(Strict):
    name: Literal["none", "step", "cosine"] = "none"
    step_size: Annotated[int, pydantic.Field(ge=1)] = 10
    """``step``: epochs between two learning-rate decays."""
    gamma: Annotated[float, pydantic.Field(gt=0)] = 0.5
    """``step``: the factor the learning rate is multiplied by at each decay."""


class TrainSettings(Strict):
    """How each fold's model is trained. The last epoch's model is evaluated, always."""

    epochs: Annotated[int, pydantic.Field(ge=1)] = 60
    batch_size: Annotated[int, pydantic.Field(ge=2)] = 128
    """Samples per training step; at least 2 (BatchNorm needs two samples, and a last batch of one
    sample is skipped)."""
    optimizer: OptimizerSettings = OptimizerSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    device: Literal["auto", "cpu", "cuda"] | str = "auto"
    deterministic: bool = True
    threads: Annotated[int, pydantic.Field(ge=0)] = 0
    """torch intra-op threads of the mertk process; 0: the cores this process may use (the smallest
    of ``OMP_NUM_THREADS``, the cgroup CPU quota and the CPU affinity; the run log says which).
    Worker processes of the executor use its own ``threads``."""
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    """Arithmetic of forward passes: ``fp32``; ``bf16`` (autocast mixed precision, weights and
    optimizer stay float32); ``auto``: bf16 on CUDA and on CPUs with bf16 units (AMX or
    AVX512-BF16), else fp32."""
    channels_last: bool = False
    """Keep image tensors in channels-last memory order (faster convolutions on some hardware)."""
    normalize_mean: float = 0.5
    normalize_std: Annotated[float, pydantic.Field(gt=0)] = 0.5
    """Inputs in [0, 1] are mapped to (x - mean) / std, as in the authors' code."""
    stack_folds: Literal["auto", "off"] | Annotated[int, pydantic.Field(ge=1)] = "auto"
    """Train several folds' models at once, their weights stacked on a fold axis and every step
    one call for the whole stack (:mod:`mertk.engine.stacked`): the same models as one fold after
    another, each fold with its own batches, BatchNorm statistics, optimizer state and dropout
    masks. Folds' last batches differ in size; each fold keeps its own (a single-sample one is
    skipped, as sequentially), so its samples per epoch are unchanged. ``off``: one fold after
    another; a number ``k``: stacks of up to ``k`` folds (``1`` is ``off``); ``auto``: stacks on
    CUDA (as many folds as fit in half the free memory), one fold after another on CPU, where
    stacking measured slower (``benchmarks/stacked.py``), and for a model or loss that cannot
    be stacked (the run log says why). See docs/performance.md, Stacked folds."""

    def check_run(self, config: Any, components: Any, file: str) -> None:
        """An explicit ``stack_folds`` of a model or loss that cannot be stacked is an error."""
        from mertk.engine.stackable import stacking_obstacle
        from mertk.errors import ConfigError

        if isinstance(self.stack_folds, int) and self.stack_folds > 1:
            reason = stacking_obstacle(config, components)
            if reason is not None:
                raise ConfigError(file, "train.stack_folds", f"{self.stack_folds}: {reason}. Set "
                                  "train.stack_folds: off, or auto to train such models one fold after another")


class OutputSettings(Strict):
    dir: str = "runs"
    """Parent folder of run folders."""
    checkpoints: bool = False
    """Save each fold's final weights."""
    export_model: bool = True
    """After the evaluation, train one more model on ALL samples (same recipe, seed + 10000) and
    save it to ``RUN_DIR/model/`` (``weights.safetensors`` + ``model.json``) for ``mertk predict``
    and ``mertk explain``. This final model has no held-out score: the run's metrics come from
    the fold models."""
    trackers: list[component("tracker")] = []
    """Experiment trackers that also receive the run (``mlflow``, ``tensorboard``; see the page
    *Tracking experiments*), e.g. ``[mlflow, {name: tensorboard}]``. Each prints where it
    tracks the run and how to open it. One that cannot start stops the run before any training;
    one that fails later warns once and is dropped, and the run and its run folder go on."""
