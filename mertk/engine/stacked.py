"""Train several folds' models at once: weights stacked on a fold axis, one call per step for all.

Each fold's model is built exactly as for sequential training (same seed, same initial
weights). :func:`train_stacked` then moves every parameter and buffer of the ``F`` models into
one stacked tensor ``(F, ...)`` per name, each fold's model keeping a view of its slice, and
runs every training step for all folds in one :func:`torch.func.vmap` call over
:func:`torch.func.functional_call` of the model and the loss: convolutions become grouped
convolutions and linear layers batched matrix products, so a stack of folds takes about as
many kernel calls per step as one fold.

It is sequential training (:class:`mertk.engine.trainer.Trainer`) for every fold:

- **Batches.** Each fold draws its own order from its own generator over its own training
  set, as the Trainer does, with the same batch size; a final batch of one sample is skipped,
  as the Trainer does. Folds' training sets differ in size, so their last batches differ in
  size: at every step the folds are grouped by batch size, one vmapped call per group (a LOSO's
  full batches are one call; its last batches one call per distinct size). A fold with fewer
  batches in an epoch than others takes no optimizer step while they finish theirs. Every fold
  thus sees exactly the batches, and the samples per epoch, of its sequential training.
- **BatchNorm** running statistics are buffers, stacked per fold and updated by each fold's
  own batches.
- **Optimizer.** One torch optimizer (the Trainer's: fused Adam, ...) holds every fold's
  parameters as separate tensors, so each has its own state; a fold without a batch in a step
  has no gradient and is left as it is, its Adam step count included. The learning-rate
  schedule is per epoch, the same for every fold.
- **Dropout.** ``nn.Dropout`` modules draw each fold's masks from that fold's own generator,
  forked from the default generator where its sequential training would start drawing. On CPU
  these are the masks sequential training draws; CUDA's sequential dropout uses a fused kernel
  that takes no generator, so there the masks are drawn the same way from the same seeds but
  are not the same bits.
- **Last epoch.** Each fold's model is left as its last epoch made it.

Results differ from sequential training only by floating-point summation order (a grouped
convolution adds in another order than a single one).
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

from mertk.engine.settings import TrainSettings
from mertk.engine.trainer import (
    EpochStats,
    Hits,
    LossSum,
    autocast_dtype,
    class_hits,
    make_optimizer,
    make_scheduler,
    run_epochs,
)
from mertk.interrupts import raise_if_interrupted

__all__ = ["StackingError", "FoldDropout", "fork_default_generator", "stack_size", "stack_memory_limit",
           "measure_fold_bytes", "StackedTrainer", "train_stacked"]

Views = Mapping[str, torch.Tensor]


class StackingError(RuntimeError):
    """The models cannot be trained stacked (an operation without a vmap rule, unequal shapes)."""


def fork_default_generator(device: torch.device) -> torch.Generator:
    """A new generator in the current state of ``device``'s default generator.

    Sequential training draws dropout masks from the default generator; forked where a fold's
    training would start, it gives stacked training that fold's masks.
    """
    generator = torch.Generator(device=device)
    generator.set_state(torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state())
    return generator


def stack_size(setting: str | int, device: torch.device, pending: int, *,
               memory_limit: int | None = None) -> int:
    """Folds per stack for ``train.stack_folds``: 1 means one fold after another.

    Args:
        setting: ``"off"``, ``"auto"`` or a number of folds.
        device: The training device.
        pending: Folds still to train.
        memory_limit: With ``auto`` on CUDA, the most folds that fit in memory
            (:func:`stack_memory_limit`); ``None``: no limit known.
    """
    if setting == "off":
        return 1
    if setting == "auto":
        if device.type != "cuda":
            return 1  # measured slower on CPU: docs/performance.md, benchmarks/stacked.py
        return max(1, min(pending, memory_limit if memory_limit is not None else pending))
    return max(1, min(int(setting), pending))


def stack_memory_limit(free_bytes: int, fold_bytes: int, share: float = 0.5) -> int:
    """How many folds of ``fold_bytes`` each fit in ``share`` of ``free_bytes`` (at least one)."""
    return max(1, int(free_bytes * share) // max(1, fold_bytes))


def measure_fold_bytes(model: nn.Module, loss: nn.Module, views: Views, labels: torch.Tensor,
                       settings: TrainSettings) -> int:
    """CUDA bytes one fold's training takes: a training step of a copy of ``model`` on one batch.

    Counts the step's peak allocation (activations, gradients) plus the optimizer's two
    moments; the fold's real training is not touched (a copy, its own generator state kept).
    """
    device = labels.device
    probe = copy.deepcopy(model).train()
    state = torch.cuda.get_rng_state(device)
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    batch = {name: x[:settings.batch_size] for name, x in views.items()}
    dtype = autocast_dtype(settings.precision, device)
    with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        loss(probe(batch), labels[:settings.batch_size]).backward()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - before
    torch.cuda.set_rng_state(state, device)
    moments = 2 * sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return int(peak + moments)


class _FoldNoise(torch.autograd.Function):
    """Dropout noise ``bernoulli(1 - p) / (1 - p)``, drawn per fold from that fold's generator.

    Only runs inside ``vmap``: its vmap rule receives the stacked input ``(F, ...)`` and draws
    fold ``f``'s noise, shaped like one fold's input, from ``generators[f]``, as
    ``F.dropout`` draws it on CPU (``empty_like(x).bernoulli_(1 - p)``, then ``/ (1 - p)``).
    """

    @staticmethod
    def forward(x: torch.Tensor, p: float, generators: Sequence[torch.Generator]) -> torch.Tensor:
        raise StackingError("FoldDropout works only inside a stacked training step")

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        pass

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None, ...], x: torch.Tensor, p: float,
             generators: Sequence[torch.Generator]) -> tuple[torch.Tensor, int]:
        x = x.movedim(in_dims[0], 0) if in_dims[0] is not None else x.expand(info.batch_size, *x.shape)
        noise = torch.empty(x.shape, dtype=x.dtype, device=x.device)
        for fold, generator in enumerate(generators):
            noise[fold].bernoulli_(1 - p, generator=generator)
        return noise.div_(1 - p), 0


class _ActiveGenerators:
    """The dropout generators of the folds in the current vmapped call, in stack order."""

    def __init__(self) -> None:
        self.generators: list[torch.Generator] = []


class FoldDropout(nn.Module):
    """``nn.Dropout`` inside a stacked step: each fold's mask from that fold's own generator.

    Args:
        p: Probability of an element being zeroed.
        source: Holds the generators of the folds in the call, set by the stack before each call.
    """

    def __init__(self, p: float, source: _ActiveGenerators) -> None:
        super().__init__()
        self.p, self.source = p, source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * torch.zeros((), dtype=x.dtype, device=x.device)
        return x * _FoldNoise.apply(x.detach(), self.p, self.source.generators)


def _stack_in_place(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack ``tensors`` into one ``(F, ...)`` tensor and point each at its slice of it."""
    stacked = torch.stack([t.detach() for t in tensors])
    for fold, tensor in enumerate(tensors):
        tensor.data = stacked[fold]
    return stacked


def _named_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


class _LossTerms(nn.Module):
    """A loss that also gives its terms (each before its weight): a :class:`LossSum`'s, else none."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, output: Any, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if isinstance(self.loss, LossSum):
            return self.loss.forward_terms(output, target)
        return self.loss(output, target), {}


class _Stack:
    """``F`` same-shaped models and their losses as stacked tensors, with the vmapped step.

    Attributes:
        trainable: Name -> ``(F, ...)`` leaf tensors (requires grad): the models' trainable
            parameters; each model's parameter is a view of its slice.
        constants: Name -> ``(F, ...)``: the models' buffers and frozen parameters.
        loss_tensors: Name -> ``(F, ...)``: the losses' parameters and buffers (constants),
            named as in :class:`_LossTerms` (``loss.`` + the loss's own name).
    """

    def __init__(self, models: Sequence[nn.Module], losses: Sequence[nn.Module]) -> None:
        shapes = [{k: tuple(v.shape) for k, v in _named_tensors(m).items()} for m in models]
        if any(s != shapes[0] for s in shapes[1:]):
            raise StackingError("the folds' models have differently shaped parameters")
        self.source = _ActiveGenerators()
        self.skeleton = self._with_fold_dropout(copy.deepcopy(models[0]).train())
        self.loss = _LossTerms(copy.deepcopy(losses[0]).train())
        first = models[0]
        trainable = [name for name, p in first.named_parameters() if p.requires_grad]
        others = [name for name in _named_tensors(first) if name not in trainable]
        per_model = [_named_tensors(m) for m in models]
        self.trainable = {name: _stack_in_place([t[name] for t in per_model]).requires_grad_()
                          for name in trainable}
        self.constants = {name: _stack_in_place([t[name] for t in per_model]) for name in others}
        self.fold_params = [[dict(m.named_parameters())[name] for name in trainable] for m in models]
        self.loss_tensors = {f"loss.{name}": torch.stack([_named_tensors(loss)[name].detach() for loss in losses])
                             for name in _named_tensors(losses[0])}

    def _with_fold_dropout(self, model: nn.Module) -> nn.Module:
        for parent in list(model.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.Dropout):
                    setattr(parent, name, FoldDropout(child.p, self.source))  # registers the child module
        return model

    def _call(self, trainable: dict[str, torch.Tensor], constants: dict[str, torch.Tensor],
              loss_tensors: dict[str, torch.Tensor], views: dict[str, torch.Tensor],
              target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        output = functional_call(self.skeleton, (trainable, constants), (views,))
        value, terms = functional_call(self.loss, loss_tensors, (output, target))
        return value, terms, output.logits

    def step(self, folds: Sequence[int], index: torch.Tensor, views: Views, labels: torch.Tensor,
             generators: Sequence[torch.Generator], dtype: torch.dtype | None,
             hits: Hits = class_hits) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Forward and backward of ``folds`` (positions in the stack) on their batches.

        Args:
            index: ``(G, b)`` sample indices into ``views``, one row per fold of ``folds``.
            generators: The dropout generator of each fold in ``folds``.

        Returns:
            ``(G,)`` loss values, ``(G,)`` sums of ``hits`` (correct predictions) and ``(G,)`` values of each loss
            term by :attr:`LossSum.keys` (none for another loss). Gradients accumulate in
            :attr:`trainable`'s ``.grad`` (zero outside ``folds``).
        """
        whole = len(folds) == len(self.fold_params)
        rows = None if whole else torch.as_tensor(folds, device=index.device)
        def rows_of(stacked: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return stacked if whole else {k: v.index_select(0, rows) for k, v in stacked.items()}

        trainable, constants = rows_of(self.trainable), rows_of(self.constants)
        loss_tensors = rows_of(self.loss_tensors)
        flat = index.flatten()
        batch = {name: x.index_select(0, flat).unflatten(0, index.shape) for name, x in views.items()}
        target = labels.index_select(0, flat).unflatten(0, index.shape)  # (G, b) or (G, b, K)
        self.source.generators = list(generators)
        device = index.device
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            value, terms, logits = vmap(self._call, randomness="error")(trainable, constants, loss_tensors,
                                                                        batch, target)
        value.sum().backward()
        if not whole:  # BatchNorm updated copies of these folds' statistics: write them back
            for name, stacked in self.constants.items():
                stacked.index_copy_(0, rows, constants[name])
        parts = {key: part.detach() for key, part in terms.items()}
        return value.detach(), hits(logits.detach(), target).sum(-1), parts

    def hand_gradients(self, folds: Sequence[int]) -> None:
        """Give each fold of ``folds`` its slice of the stacked gradients; the others none."""
        grads = [leaf.grad for leaf in self.trainable.values()]
        stepping = set(folds)
        for fold, params in enumerate(self.fold_params):
            for param, grad in zip(params, grads):
                param.grad = grad[fold] if fold in stepping and grad is not None else None
        for leaf in self.trainable.values():
            leaf.grad = None

    def release(self, models: Sequence[nn.Module]) -> None:
        """Give every model tensors of its own again (the stack's memory can then be freed)."""
        for model in models:
            for tensor in _named_tensors(model).values():
                tensor.data = tensor.data.clone()
                tensor.grad = None


def _epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's batches of positions ``0..n-1``, in the Trainer's order (CPU)."""
    order = torch.randperm(n, generator=generator)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)
            if len(order[start:start + batch_size]) >= 2]


class StackedTrainer:
    """Trains ``F`` folds' models at once, one epoch of every fold per :meth:`epoch` call.

    The stacked counterpart of :class:`mertk.engine.trainer.Trainer`: calling :meth:`epoch`
    ``n`` times trains each model as ``n`` calls of its own Trainer would (see the module docs).
    While it lives, the models' tensors are views of the stack; :meth:`release` gives them
    their own memory again (:func:`train_stacked` does).

    Args:
        models: Built (materialised) models of the same shape, on the views' device.
        losses: Each model's loss (``(ModelOutput, target) -> scalar``; e.g. class weights of
            its own training set).
        views: ``{name: (N, C, S, S)}`` normalised inputs of every sample, on the device.
        labels: The task's targets on the device: ``(N,)`` int64 class indices or ``(N, K)`` float.
        train_indices: Each model's training samples, int64 indices into ``views``.
        settings: Epochs (the schedule's length), batch size, optimizer, schedule, precision.
        generators: Each model's batch-order generator (CPU), as given to the Trainer.
        dropout_generators: Each model's dropout generator (:func:`fork_default_generator`).
        hits: The training statistic per sample, as given to the Trainer.

    Raises:
        StackingError: the models' parameters differ in shape.
    """

    def __init__(self, models: Sequence[nn.Module], losses: Sequence[nn.Module], views: Views,
                 labels: torch.Tensor, train_indices: Sequence[torch.Tensor], settings: TrainSettings, *,
                 generators: Sequence[torch.Generator], dropout_generators: Sequence[torch.Generator],
                 hits: Hits = class_hits) -> None:
        self.models, self.views, self.labels, self.settings = list(models), views, labels, settings
        self.hits = hits
        self.generators, self.dropout_generators = list(generators), list(dropout_generators)
        self.device = labels.device
        self.dtype = autocast_dtype(settings.precision, self.device)
        self.stack = _Stack(models, losses)
        parameters = [p for params in self.stack.fold_params for p in params]
        self.optimizer = make_optimizer(parameters, settings.optimizer, self.device)
        self.scheduler = make_scheduler(self.optimizer, settings.scheduler, settings.epochs)
        self.indices = [torch.as_tensor(i, dtype=torch.int64, device=self.device) for i in train_indices]
        self.epochs_done = 0
        self.probed = False

    def epoch(self) -> list[EpochStats]:
        """One pass of every fold over its own data in a new order; each fold's statistics.

        Raises:
            StackingError: the first step failed under ``vmap`` (nothing was trained).
        """
        device, batch_size = self.device, self.settings.batch_size
        start_time = time.perf_counter()
        batches = [_epoch_batches(len(i), batch_size, g) for i, g in zip(self.indices, self.generators)]
        total = torch.zeros(len(self.models), device=device)
        correct = torch.zeros(len(self.models), device=device)
        terms: dict[str, torch.Tensor] = {}
        seen = [0] * len(self.models)
        for step in range(max(map(len, batches), default=0)):
            raise_if_interrupted()
            groups: dict[int, list[int]] = defaultdict(list)  # batch size -> folds with a batch that size
            for fold, fold_batches in enumerate(batches):
                if step < len(fold_batches):
                    groups[len(fold_batches[step])].append(fold)
            for size, folds in groups.items():
                index = torch.stack([self.indices[f][batches[f][step].to(device)] for f in folds])
                try:
                    value, hits, parts = self.stack.step(folds, index, self.views, self.labels,
                                                  [self.dropout_generators[f] for f in folds], self.dtype,
                                                  self.hits)
                except (RuntimeError, ValueError, TypeError) as exc:
                    if self.probed:
                        raise
                    raise StackingError(f"{type(exc).__name__}: {exc}") from exc
                self.probed = True
                rows = torch.as_tensor(folds, device=device)
                total.index_add_(0, rows, value.float() * size)
                correct.index_add_(0, rows, hits)
                for key, part in parts.items():
                    terms.setdefault(key, torch.zeros(len(self.models), device=device)).index_add_(
                        0, rows, part.float() * size)
                for f in folds:
                    seen[f] += size
            self.stack.hand_gradients([f for folds in groups.values() for f in folds])
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            self.scheduler.step()
        self.epochs_done += 1
        seconds = (time.perf_counter() - start_time) / len(self.models)  # the stack's time, shared equally
        means = {key: [float(v) / max(n, 1) for v, n in zip(values.tolist(), seen)] for key, values in terms.items()}
        return [EpochStats(self.epochs_done, t / max(n, 1), c / max(n, 1), lr, seconds,
                           {key: fold_means[f] for key, fold_means in means.items()})
                for f, (t, c, n) in enumerate(zip(total.tolist(), correct.tolist(), seen))]

    def train_epoch(self) -> list[EpochStats]:
        """:meth:`epoch`, as a :class:`mertk.engine.trainer.TrainingLoop`."""
        return self.epoch()

    def close(self) -> None:
        """:meth:`release`, as a :class:`mertk.engine.trainer.TrainingLoop`."""
        self.release()

    def release(self) -> None:
        """Give every model tensors of its own again (the stack's memory can then be freed)."""
        self.stack.release(self.models)


def train_stacked(models: Sequence[nn.Module], losses: Sequence[nn.Module], views: Views,
                  labels: torch.Tensor, train_indices: Sequence[torch.Tensor], settings: TrainSettings, *,
                  generators: Sequence[torch.Generator], dropout_generators: Sequence[torch.Generator],
                  on_epoch: Callable[[list[EpochStats]], None] | None = None) -> list[list[EpochStats]]:
    """Train ``models[f]`` on the samples ``train_indices[f]``, all at once; as :func:`train_model` on each.

    Each model is left as its last epoch made it. Arguments as for :class:`StackedTrainer`;
    ``on_epoch`` is called after every epoch with each model's statistics. See the module docs
    for the semantics.

    Returns:
        Each model's :class:`EpochStats`, one per epoch.

    Raises:
        StackingError: the models cannot be computed stacked (the first step failed under
            ``vmap``, or their parameters differ in shape); nothing was trained.
    """
    trainer = StackedTrainer(models, losses, views, labels, train_indices, settings, generators=generators,
                             dropout_generators=dropout_generators)
    return run_epochs(trainer, settings.epochs, on_epoch) or [[] for _ in models]
