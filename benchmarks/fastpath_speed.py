"""Does each of mertk's Dual-ATME fast paths pay for itself? Seconds per epoch with it and without it.

Trains the config's model (``dual-atme-demo-flows.yaml`` by default: 442 flows-demo clips, about
one MEGC 2019 LOSO training fold) with :class:`mertk.engine.trainer.Trainer` on its own
preprocessed, in-memory views, in these variants, their epochs interleaved (one epoch of each in
turn, so that load from other processes hits all alike; the first round is a warm-up), and
prints each variant's median seconds per epoch:

* ``mertk``: every fast path on, fp32;
* one fast path switched back to plain torch (``benchmarks/fastpaths.py`` and
  ``model.fused_branches``): ``unfused branches``, ``nn.Conv2d``, ``F.max_pool2d``,
  ``single-tensor Adam``; the ratio ``seconds without / seconds with`` is what that fast path
  buys on top of the others (above 1: it pays);
* ``plain torch``: all four off; its ratio is what they buy together;
* ``bf16 autocast``: every fast path on, bf16; its ratio is fp32 seconds / bf16 seconds;
  ``bf16 autocast, unfused branches``: against it, what fused branches buy in bf16.

Usage::

    python benchmarks/fastpath_speed.py [--config dual-atme-demo-flows.yaml] [--epochs 5] [--threads 0]
        [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
from collections.abc import Callable

os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from fastpaths import plain_torch
from train import timed

import mertk
from mertk.config import load_config
from mertk.engine.run import load_data
from mertk.engine.trainer import Trainer, build_loss, build_model, configure_threads, normalize_views

#: Variant: (``model.fused_branches``, switches of :func:`fastpaths.plain_torch`, precision, the variant its
#: ratio is taken against); a ratio above 1 means the fast path pays.
VARIANTS: dict[str, tuple[bool, tuple[str, ...], str, str]] = {
    "mertk (every fast path, fp32)": (True, (), "fp32", "mertk (every fast path, fp32)"),
    "unfused branches": (False, (), "fp32", "mertk (every fast path, fp32)"),
    "nn.Conv2d": (True, ("nn-conv",), "fp32", "mertk (every fast path, fp32)"),
    "F.max_pool2d": (True, ("nn-pool",), "fp32", "mertk (every fast path, fp32)"),
    "single-tensor Adam": (True, ("plain-adam",), "fp32", "mertk (every fast path, fp32)"),
    "plain torch (all four off)": (False, ("nn-conv", "nn-pool", "plain-adam"), "fp32",
                                   "mertk (every fast path, fp32)"),
    "bf16 autocast (every fast path)": (True, (), "bf16", "bf16 autocast (every fast path)"),
    "bf16 autocast, unfused branches": (False, (), "bf16", "bf16 autocast (every fast path)"),
}


def runners(config: str, overrides: list[str], epochs: int) -> dict[str, Callable[[], None]]:
    """Per variant, a function that trains its model one epoch (its switches on while it runs)."""
    components = mertk.load_components()
    loaded = load_config(config, components, overrides)
    cfg = loaded.config
    data = load_data(loaded, components)
    views = normalize_views(data.views, cfg.train.normalize_mean, cfg.train.normalize_std, torch.device("cpu"))
    labels = torch.tensor([s.label for s in data.samples])
    k = len(data.class_names)
    out = {}
    for name, (fused, switches, precision, _) in VARIANTS.items():
        with plain_torch(*switches):  # the optimizer is made here
            torch.manual_seed(1)
            model = build_model({**cfg.model, "fused_branches": fused}, components, num_classes=k,
                                in_channels=next(iter(views.values())).shape[1],
                                sample={v: x[:2] for v, x in views.items()})
            loss = build_loss(cfg.loss, components, num_classes=k,
                              class_counts=torch.bincount(labels, minlength=k).tolist())
            settings = cfg.train.model_copy(update={"epochs": epochs, "precision": precision})
            trainer = Trainer(model, loss, views, labels, settings, generator=torch.Generator().manual_seed(1))

        def epoch(trainer: Trainer = trainer, switches: tuple[str, ...] = switches) -> None:
            with plain_torch(*switches) if switches else contextlib.nullcontext():
                trainer.epoch()

        out[name] = epoch
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="dual-atme-demo-flows.yaml")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs of each (interleaved)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    run = runners(args.config, args.set, args.epochs + 1)
    times: dict[str, list[float]] = {name: [] for name in run}
    for round_ in range(args.epochs + 1):
        for name, epoch in run.items():
            seconds = timed(epoch)
            if round_:  # the first round is a warm-up
                times[name].append(seconds)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.config} {args.set}, {threads} threads, median of {args.epochs} interleaved epochs after a "
          f"warm-up; {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{datetime.date.today()}, load average {os.getloadavg()}")
    print(f"| {'variant':<34} | s/epoch | ratio | against |\n|---|---|---|---|")
    for name, seconds in median.items():
        base = VARIANTS[name][3]
        if name == base and VARIANTS[name][2] == "bf16":  # bf16 itself is a fast path: fp32 over bf16
            base, ratio = "mertk (every fast path, fp32)", median["mertk (every fast path, fp32)"] / seconds
        else:
            ratio = seconds / median[base]
        print(f"| {name:<34} | {seconds:7.3f} | {ratio:5.2f} | {base} |")


if __name__ == "__main__":
    main()
