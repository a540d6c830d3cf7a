"""Training and prediction of one fold's model on in-memory view tensors.

The whole fold lives in memory as pre-normalised ``(N, C, S, S)`` tensors (one per view):
batches are index selections, with no DataLoader, no per-epoch image decoding and no
per-sample transforms. The optimizer works on flat fused/foreach kernels where torch has them.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from mertk.api import ModelOutput
from mertk.config import LOSS_TERM
from mertk.cpus import CpuBudget, available_cpus
from mertk.engine.settings import OptimizerSettings, SchedulerSettings, TrainSettings
from mertk.interrupts import raise_if_interrupted
from mertk.registry import Components, ComponentSpec

__all__ = ["select_device", "seed_everything", "configure_threads", "thread_budget", "set_threads",
           "LossSum", "build_loss", "build_model",
           "normalize_views", "cpu_has_bf16", "autocast_dtype", "make_optimizer", "make_scheduler", "Trainer",
           "TrainingLoop", "run_epochs", "train_model", "predict", "EpochStats", "class_hits", "softmax_scores"]

Views = Mapping[str, torch.Tensor]
#: ``(logits (..., B, K), targets) -> (..., B)`` float: the per-sample training statistic (:meth:`mertk.api.Task.hits`).
Hits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def class_hits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 where the argmax of ``(..., B, K)`` logits is the ``(..., B)`` class target, else 0: the
    training accuracy of a classifier."""
    return (logits.detach().argmax(-1) == targets).float()


def softmax_scores(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities: the softmax of ``(..., K)`` logits, in float32."""
    return torch.softmax(logits.float(), dim=-1)


def select_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU; any other value is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; in deterministic mode also pick deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def configure_threads(threads: int = 0) -> int:
    """Use ``threads`` intra-op threads (0: the cores this process may use, see
    :func:`thread_budget`); returns the number set."""
    return set_threads(threads).count


def thread_budget(threads: int = 0) -> CpuBudget:
    """How many intra-op threads ``train.threads`` means here, and why.

    ``threads > 0`` is taken as given; 0 is the smallest of ``OMP_NUM_THREADS``, the cgroup
    CPU quota and the CPU affinity mask (:func:`mertk.cpus.available_cpus`).
    """
    if threads > 0:
        return CpuBudget(threads, "train.threads")
    return available_cpus()


def set_threads(threads: int = 0) -> CpuBudget:
    """Set torch's intra-op threads to :func:`thread_budget` ``(threads)``; returns it."""
    budget = thread_budget(threads)
    torch.set_num_threads(budget.count)
    return budget


class LossSum(nn.Module):
    """Weighted sum of loss terms: ``sum_i weight_i * loss_i(output, target)``.

    Args:
        terms: ``(name, weight, loss module)`` triples.
    """

    def __init__(self, terms: Sequence[tuple[str, float, nn.Module]]) -> None:
        super().__init__()
        self.names = [name for name, _, _ in terms]
        self.weights = [float(w) for _, w, _ in terms]
        self.terms = nn.ModuleList([loss for _, _, loss in terms])
        #: One key per term: its name, numbered from the second use of a name (``focal``, ``focal-2``).
        self.keys = [name if self.names[:i].count(name) == 0 else f"{name}-{self.names[:i].count(name) + 1}"
                     for i, name in enumerate(self.names)]

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        return self.forward_terms(output, target)[0]

    def forward_terms(self, output: ModelOutput, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted sum and each term's value before its weight, by key (terms of weight 0
        are not computed)."""
        total, values = 0.0, {}
        for key, weight, loss in zip(self.keys, self.weights, self.terms):
            if weight:
                values[key] = loss(output, target)
                total = total + weight * values[key]
        return total, values  # type: ignore[return-value]


def build_loss(specs: Sequence[Mapping[str, Any]], components: Components, *, num_classes: int,
               class_counts: Sequence[int], num_samples: int | None = None, file: str = "<config>") -> LossSum:
    """Build the config's ``loss`` list into a :class:`LossSum`.

    Each term's ``weight`` (default 1) is read here; a loss factory receives ``num_classes`` (the
    model's outputs), ``class_counts`` (training-fold samples per class, or positives per output
    for a multi-label task) and ``num_samples`` (training-fold size; default the sum of
    ``class_counts``) when it declares them.
    """
    terms = []
    for i, spec in enumerate(specs):
        spec, options = LOSS_TERM.split(ComponentSpec.of(spec, kind="loss").as_mapping())
        weight = float(options["weight"])
        params = components["loss"].get(spec["name"]).parameters
        run_time = {"num_classes": num_classes, "class_counts": list(class_counts),
                    "num_samples": sum(class_counts) if num_samples is None else num_samples}
        provided = {k: v for k, v in run_time.items() if k in params}
        terms.append((spec["name"], weight, components.build("loss", spec, file=file, key=f"loss.{i}", **provided)))
    return LossSum(terms)


def build_model(spec: Any, components: Components, *, num_classes: int, in_channels: int,
                sample: Views, file: str = "<config>") -> nn.Module:
    """Build the config's model and run one forward pass on ``sample`` (a few inputs).

    The dry forward pass materialises lazy layers (a fusion layer whose input size depends on
    the backbone) before the optimizer is created, and checks the model reads the views given.
    """
    model = components.build("model", spec, file=file, key="model", num_classes=num_classes, in_channels=in_channels)
    model.eval()
    with torch.no_grad():
        output = model(sample)
    if not isinstance(output, ModelOutput):
        raise TypeError(f"model {spec!r} returned {type(output).__name__}, not mertk.api.ModelOutput")
    return model


def cpu_has_bf16() -> bool:
    """The CPU has bf16 arithmetic units torch uses: AMX tiles or AVX512-BF16 instructions."""
    if getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")() != "AVX512":
        return False  # torch dispatches no AVX-512 kernels (e.g. ATEN_CPU_CAPABILITY=avx2)
    return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
                or getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.precision`` on ``device`` (``None``: plain float32).

    ``auto`` is bf16 on CUDA and on CPUs with bf16 units (:func:`cpu_has_bf16`), else float32.
    """
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" or cpu_has_bf16() else None
    return None


def normalize_views(views: Views, mean: float, std: float, device: torch.device,
                    channels_last: bool = False) -> dict[str, torch.Tensor]:
    """``(x - mean) / std`` for every ``(N, C, S, S)`` view, moved to ``device`` once."""
    out = {}
    for name, x in views.items():
        x = ((torch.as_tensor(x, dtype=torch.float32) - mean) / std).to(device)
        out[name] = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
    return out


def make_optimizer(params: Any, settings: OptimizerSettings, device: torch.device) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with the config's settings; fused kernels where torch has them."""
    fast: dict[str, Any] = {"fused": True} if settings.name in ("adam", "adamw") else {"foreach": True}
    if settings.name == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay, **fast)
    if settings.name == "adamw":
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay, **fast)
    return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum,
                           weight_decay=settings.weight_decay, **fast)


def make_scheduler(optimizer: torch.optim.Optimizer, settings: SchedulerSettings,
                   epochs: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch learning-rate schedule: ``none``, ``step`` (StepLR) or ``cosine`` (to 0 at the end)."""
    if settings.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, settings.step_size, settings.gamma)
    if settings.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    return None


@dataclass
class EpochStats:
    """Mean training loss and accuracy over one epoch's batches, the same for a fold trained alone
    (:class:`Trainer`) or in a stack (:class:`mertk.engine.stacked.StackedTrainer`).

    Attributes:
        epoch: 1-based epoch number.
        loss: Mean weighted total loss per sample.
        accuracy: Training accuracy over the epoch's batches (the model changing as it goes), as the
            task measures it (:meth:`mertk.api.Task.hits`: classes right; for action units the
            fraction of AU decisions right).
        lr: The learning rate the epoch trained with.
        seconds: Wall time of the epoch (in a stack of ``F`` folds: the stack's epoch time / ``F``).
        terms: Mean value of each loss term before its weight, by :attr:`LossSum.keys`
            (empty for a loss that is not a :class:`LossSum`).
    """

    epoch: int
    loss: float
    accuracy: float
    lr: float = field(default=0.0)
    seconds: float = 0.0
    terms: dict[str, float] = field(default_factory=dict)


class Trainer:
    """Trains one model on in-memory views, one epoch per :meth:`epoch` call.

    The optimizer and schedule are created once, so calling :meth:`epoch` ``n`` times is the
    same as :func:`train_model` with ``settings.epochs = n`` (the schedule's length is
    ``settings.epochs``).

    Args:
        model: A built (materialised) model on the views' device.
        loss: ``(ModelOutput, target) -> scalar``.
        views: ``{name: (N, C, S, S)}`` normalised training inputs on the training device.
        labels: The task's targets on the same device: ``(N,)`` int64 class indices or ``(N, K)``
            float multi-hot.
        settings: Epochs, batch size, optimizer, schedule, precision.
        generator: Random generator for the batch order (CPU).
        hits: The training statistic per sample (the task's :meth:`~mertk.api.Task.hits`;
            default the class accuracy).
    """

    def __init__(self, model: nn.Module, loss: nn.Module, views: Views, labels: torch.Tensor,
                 settings: TrainSettings, *, generator: torch.Generator | None = None,
                 hits: Hits = class_hits) -> None:
        self.model, self.loss, self.views, self.labels = model, loss, views, labels
        self.settings, self.generator, self.hits = settings, generator, hits
        self.device = labels.device
        self.dtype = autocast_dtype(settings.precision, self.device)
        if settings.channels_last:
            model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], settings.optimizer,
                                        self.device)
        self.scheduler = make_scheduler(self.optimizer, settings.scheduler, settings.epochs)
        self.epochs_done = 0

    def epoch(self) -> EpochStats:
        """One pass over the data in a new random order of batches; returns its statistics.

        A final batch of one sample is skipped (BatchNorm cannot train on it).
        """
        model, device, n = self.model, self.device, len(self.labels)
        start_time = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=self.generator).to(device)
        total = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        terms: dict[str, torch.Tensor] = {}
        seen = 0
        for start in range(0, n, self.settings.batch_size):
            raise_if_interrupted()  # a Ctrl-C whose exception a library swallowed stops here
            index = order[start:start + self.settings.batch_size]
            if len(index) < 2:
                continue
            batch = {name: x.index_select(0, index) for name, x in self.views.items()}
            target = self.labels.index_select(0, index)
            with torch.autocast(device.type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
                output = model(batch)
                if isinstance(self.loss, LossSum):
                    value, parts = self.loss.forward_terms(output, target)
                else:
                    value, parts = self.loss(output, target), {}
            self.optimizer.zero_grad(set_to_none=True)
            value.backward()
            self.optimizer.step()
            total += value.detach() * len(index)
            for key, part in parts.items():
                terms[key] = terms.get(key, 0.0) + part.detach().float() * len(index)
            correct += self.hits(output.logits.detach(), target).sum()
            seen += len(index)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        self.epochs_done += 1
        seen = max(seen, 1)
        means = {key: float(value) / seen for key, value in terms.items()}
        return EpochStats(self.epochs_done, float(total) / seen, float(correct) / seen, lr,
                          time.perf_counter() - start_time, means)

    def train_epoch(self) -> list[EpochStats]:
        """:meth:`epoch`, as the :class:`TrainingLoop` of one model."""
        return [self.epoch()]

    def close(self) -> None:
        """Nothing to give back (the model owns its tensors)."""


@runtime_checkable
class TrainingLoop(Protocol):
    """Trains one or more models, one epoch of each per :meth:`train_epoch` call.

    The one interface the engine trains through: :class:`Trainer` (one fold) and
    :class:`mertk.engine.stacked.StackedTrainer` (a stack of folds) both give each model's
    :class:`EpochStats`, so ``history.csv`` and the trackers see the same values either way.
    """

    def train_epoch(self) -> list[EpochStats]:
        """One epoch of every model; their statistics, in model order."""
        ...

    def close(self) -> None:
        """Leave every model usable on its own (called once training ends, however it ends)."""
        ...


def run_epochs(loop: TrainingLoop, epochs: int,
               on_epoch: Callable[[list[EpochStats]], None] | None = None) -> list[list[EpochStats]]:
    """Train ``loop`` for ``epochs`` epochs, calling ``on_epoch`` after each with every model's
    statistics; then :meth:`TrainingLoop.close` it (also when training fails). A Ctrl-C or SIGTERM
    stops it before the next epoch even if the code the signal landed in swallowed its exception
    (:func:`mertk.interrupts.raise_if_interrupted`).

    Returns:
        Per model, one :class:`EpochStats` per epoch.
    """
    histories: list[list[EpochStats]] = []
    try:
        for _ in range(epochs):
            raise_if_interrupted()
            stats = loop.train_epoch()
            if not histories:
                histories = [[] for _ in stats]
            for history, one in zip(histories, stats):
                history.append(one)
            if on_epoch is not None:
                on_epoch(stats)
    finally:
        loop.close()
    return histories


def train_model(model: nn.Module, loss: nn.Module, views: Views, labels: torch.Tensor, settings: TrainSettings,
                *, generator: torch.Generator | None = None, hits: Hits = class_hits,
                on_epoch: Callable[[EpochStats], None] | None = None) -> list[EpochStats]:
    """Train ``model`` for ``settings.epochs`` epochs; the model is left as the last epoch made it.

    Arguments as for :class:`Trainer`; ``on_epoch`` is called after every epoch with its
    statistics. Returns one :class:`EpochStats` per epoch.
    """
    trainer = Trainer(model, loss, views, labels, settings, generator=generator, hits=hits)
    histories = run_epochs(trainer, settings.epochs, None if on_epoch is None else lambda stats: on_epoch(stats[0]))
    return histories[0] if histories else []


def predict(model: nn.Module, views: Views, batch_size: int = 512, precision: str = "fp32",
            scores: Callable[[torch.Tensor], torch.Tensor] = softmax_scores) -> torch.Tensor:
    """Scores ``(N, K)`` (float32, CPU) from the model in eval mode: ``scores`` of its logits (the
    task's :meth:`~mertk.api.Task.scores`; default class probabilities, a softmax)."""
    model.eval()
    device = next(iter(views.values())).device
    dtype = autocast_dtype(precision, device)
    n = len(next(iter(views.values())))
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            batch = {name: x[start:start + batch_size] for name, x in views.items()}
            with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                logits = model(batch).logits
            out.append(scores(logits).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)
