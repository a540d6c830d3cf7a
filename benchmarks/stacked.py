"""Seconds per LOSO epoch: folds trained one after another against folds trained stacked.

``train.stack_folds`` trains several folds' models at once, their weights stacked on a fold
axis and every step one vmapped call for the whole stack (:mod:`mertk.engine.stacked`). This
measures what that buys, on the bundled configs' own data, model, loss and recipe:

* ``dual-atme.yaml``: the demo dataset (108 clips, LOSO over its subjects), views of 28 px;
* ``dual-atme-demo-composite.yaml``: the composite demo, shaped like the MEGC 2019 composite
  (442 clips, 68 LOSO folds of about 436 training clips each), views of 28 px.

For each config and device it times one LOSO epoch, i.e. one epoch of every fold:

* sequential: each fold's own :class:`mertk.engine.trainer.Trainer` (what ``stack_folds: off``
  runs), one fold after another;
* stacked ``k``: the folds in stacks of ``k`` (what ``stack_folds: k`` runs), one
  :class:`mertk.engine.stacked.StackedTrainer` per stack.

Every fold is built as the run builds it (:func:`mertk.engine.fold.setup_fold`). Per stack,
its folds' Trainers and the StackedTrainer take turns, epoch by epoch (interleaved, so that load
from other processes on a shared machine hits both alike): one warm-up epoch each, then
``--epochs`` timed ones; the stacks' median epochs add up to a LOSO epoch, each way.
Sequential is the baseline, measured in the same run and for the same folds: the printed
speed-up is sequential / stacked. On CPU the line also gives the process's CPU seconds of
both and their ratio, which shared machines disturb less than wall-clock time (with
``--threads 1`` it is the work done; with more threads it includes threads waiting on each
other). ``--folds N`` times only the first ``N`` folds of each LOSO
(faster, for a quick look; a "LOSO epoch" is then one epoch of each of those folds); the
printed line says so.

With CUDA, ``--devices`` defaults to ``cpu cuda`` and ``--loso`` also times a whole LOSO on
the GPU: every fold trained for the config's ``train.epochs``, sequential against stacked
(the largest of ``--stacks``), counting training only (models built, data on the GPU, no
testing), synchronised before each clock reading.

Usage::

    python benchmarks/stacked.py [--configs dual-atme.yaml dual-atme-demo-composite.yaml]
                                 [--epochs 2] [--stacks 4 17 68] [--folds 0] [--devices cpu]
                                 [--precision config fp32 bf16] [--threads 0] [--loso]

The first run generates and preprocesses the demo datasets (a few minutes); later runs read
mertk's cache.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Sequence

import numpy as np
import torch

import mertk
from mertk.api import Fold
from mertk.config import LoadedConfig, load_config
from mertk.engine.fold import FoldContext, FoldSetup, setup_fold
from mertk.engine.run import load_data
from mertk.engine.stacked import StackedTrainer, train_stacked
from mertk.engine.trainer import Trainer, autocast_dtype, configure_threads, normalize_views, train_model


class Loso:
    """A config's data, LOSO folds and inputs on one device, ready to build folds from."""

    def __init__(self, file: str, device: torch.device, precision: str, components: mertk.Components) -> None:
        overrides = [f"train.device={device.type}"] + ([f"train.precision={precision}"] if precision != "config"
                                                       else [])
        self.loaded: LoadedConfig = load_config(file, components, overrides)
        self.components, self.device = components, device
        self.data = load_data(self.loaded, components)
        self.folds: list[Fold] = components.build("protocol", self.loaded.config.protocol).split(self.data.samples)
        self.train = train = self.loaded.config.train  # the config's own settings (setup changes the epochs)
        self.inputs = normalize_views(self.data.views, train.normalize_mean, train.normalize_std, device)
        self.labels = torch.as_tensor([s.label for s in self.data.samples], dtype=torch.int64, device=device)

    def setup(self, index: int, epochs: int) -> FoldSetup:
        """Fold ``index`` built and seeded as the run builds it, for ``epochs`` epochs."""
        self.loaded.config.train = self.train.model_copy(update={"epochs": epochs})
        ctx = FoldContext(self.loaded, self.components, tuple(self.data.samples), self.data.class_names, self.inputs,
                          self.labels, tuple(self.folds))
        return setup_fold(ctx, self.folds[index].train, seed=self.loaded.config.seed + index)


def clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def clocks(device: torch.device) -> np.ndarray:
    """Wall-clock and this process's CPU seconds (synchronised with the GPU first)."""
    return np.array([clock(device), time.process_time()])


def sequential_trainer(loso: Loso, index: int, epochs: int) -> Trainer:
    """Fold ``index``'s own Trainer on its training samples, as ``stack_folds: off`` runs it."""
    fold = loso.setup(index, epochs)
    views = {name: x.index_select(0, fold.train_index) for name, x in loso.inputs.items()}
    return Trainer(fold.model, fold.loss, views, loso.labels.index_select(0, fold.train_index),
                   loso.loaded.config.train, generator=fold.generator)


def stacked_trainer(loso: Loso, folds: Sequence[int], epochs: int) -> StackedTrainer:
    """One StackedTrainer of ``folds``, as ``stack_folds: len(folds)`` runs them."""
    setups = [loso.setup(index, epochs) for index in folds]
    return StackedTrainer([s.model for s in setups], [s.loss for s in setups], loso.inputs, loso.labels,
                          [s.train_index for s in setups], loso.loaded.config.train,
                          generators=[s.generator for s in setups],
                          dropout_generators=[s.dropout_generator for s in setups])


def loso_epoch(loso: Loso, folds: Sequence[int], epochs: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of one epoch of each of ``folds``: one after another, and in stacks of ``size``.

    Per stack, its folds' Trainers and the stack's StackedTrainer take turns epoch by epoch
    (one warm-up epoch each, then ``epochs`` timed ones), so that load from other processes
    hits both alike; the medians of the stacks add up.

    Returns:
        ``(wall, cpu)`` seconds sequential, and the same stacked.
    """
    sequential, stacked = np.zeros(2), np.zeros(2)
    for first in range(0, len(folds), size):
        group = folds[first:first + size]
        trainers = [sequential_trainer(loso, index, epochs + 1) for index in group]
        stack = stacked_trainer(loso, group, epochs + 1)
        one_by_one, together = [], []
        try:
            for round_ in range(epochs + 1):
                start = clocks(loso.device)
                for trainer in trainers:
                    trainer.epoch()
                middle = clocks(loso.device)
                stack.epoch()
                end = clocks(loso.device)
                if round_:  # the first round is a warm-up
                    one_by_one.append(middle - start)
                    together.append(end - middle)
        finally:
            stack.release()
        sequential += np.median(one_by_one, axis=0)
        stacked += np.median(together, axis=0)
    return sequential, stacked


def whole_loso(loso: Loso, size: int) -> tuple[float, float]:
    """Training seconds of every fold for the config's epochs: sequential, then in stacks of ``size``."""
    epochs = loso.train.epochs
    sequential = 0.0
    for index in range(len(loso.folds)):
        fold = loso.setup(index, epochs)
        views = {name: x.index_select(0, fold.train_index) for name, x in loso.inputs.items()}
        start = clock(loso.device)
        train_model(fold.model, fold.loss, views, loso.labels.index_select(0, fold.train_index),
                    loso.loaded.config.train, generator=fold.generator)
        sequential += clock(loso.device) - start
    stacked = 0.0
    for first in range(0, len(loso.folds), size):
        setups = [loso.setup(index, epochs) for index in range(first, min(first + size, len(loso.folds)))]
        start = clock(loso.device)
        train_stacked([s.model for s in setups], [s.loss for s in setups], loso.inputs, loso.labels,
                      [s.train_index for s in setups], loso.loaded.config.train,
                      generators=[s.generator for s in setups],
                      dropout_generators=[s.dropout_generator for s in setups])
        stacked += clock(loso.device) - start
    return sequential, stacked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["dual-atme.yaml", "dual-atme-demo-composite.yaml"])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per fold or stack, after one warm-up")
    parser.add_argument("--stacks", type=int, nargs="+", default=[4, 17, 68], help="folds per stack to measure")
    parser.add_argument("--folds", type=int, default=0, help="time only the first N folds of each LOSO (0: all)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    parser.add_argument("--precision", nargs="+", choices=["config", "fp32", "bf16", "auto"], default=["config"],
                        help="train.precision, one measurement each (config: the config's own)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    parser.add_argument("--loso", action=argparse.BooleanOptionalAction, default=torch.cuda.is_available(),
                        help="also time a whole LOSO's training on CUDA (default: when CUDA is present)")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    components = mertk.load_components()
    for file, name, precision in itertools.product(args.configs, args.devices, args.precision):
        device = torch.device(name)
        loso = Loso(file, device, precision, components)
        folds = list(range(len(loso.folds)))[:args.folds or None]
        arithmetic = autocast_dtype(loso.loaded.config.train.precision, device) or torch.float32
        hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{threads} threads"
        print(f"{file}: {len(loso.data.samples)} clips, {len(folds)} of {len(loso.folds)} LOSO folds, "
              f"{device.type} ({hardware}), {str(arithmetic).removeprefix('torch.')}, batch "
              f"{loso.loaded.config.train.batch_size}; median of {args.epochs} epochs after one warm-up; "
              f"load average {os.getloadavg()}", flush=True)
        for size in sorted({min(s, len(folds)) for s in args.stacks}):
            sequential, stacked = loso_epoch(loso, folds, args.epochs, size)
            cpu = (f"; CPU time {sequential[1]:.3f} against {stacked[1]:.3f} s, "
                   f"ratio {sequential[1] / stacked[1]:5.2f}x" if device.type == "cpu" else "")
            print(f"  stacks of {size:<3} sequential {sequential[0]:8.3f} s/LOSO epoch, stacked {stacked[0]:8.3f} "
                  f"s/LOSO epoch, speed-up {sequential[0] / stacked[0]:5.2f}x{cpu}", flush=True)
        if args.loso and device.type == "cuda":
            size = min(max(args.stacks), len(loso.folds))
            sequential, stacked = whole_loso(loso, size)
            print(f"  whole LOSO, {len(loso.folds)} folds x {loso.train.epochs} epochs, "
                  f"training only: sequential {sequential:.1f} s, stacked {size} {stacked:.1f} s, "
                  f"speed-up {sequential / stacked:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
