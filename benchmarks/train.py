"""Per-epoch training speed: mertk's trainer against a reimplementation of the authors' loop.

Both train the same Dual-ATME model (bi-Inception + CBAM + fusion head, focal + 0.01 *
similarity loss, Adam lr 1e-3, batch 128) on the same 3-channel 28x28 flow images:

* reference: images stored as PNG files, read through a torchvision ``ImageFolder``-style
  dataset with ``Resize(28) -> ToTensor -> Normalize(0.5, 0.5)`` and a shuffling
  ``DataLoader`` every epoch, default ``torch.optim.Adam``, the authors' plain
  ``nn.MaxPool2d(3, 1, 1)`` (same values and gradients as mertk's, other kernels);
* mertk: :func:`mertk.engine.trainer.train_model` on one pre-normalised in-memory tensor per
  view (no DataLoader), fused Adam; in fp32 and bf16 autocast (``train.precision: bf16``),
  each with the branches computed one after the other and fused into one grouped branch
  (``model.fused_branches``), and bf16 with channels-last memory order.

Epochs of all variants are interleaved (reference, then each mertk variant, repeated), so that
load from other processes on a shared machine affects them alike; medians are reported.

Usage::

    python benchmarks/train.py [--samples 436] [--epochs 5] [--size 28] [--threads 0]

Prints seconds per epoch for each and the ratio (reference / mertk). The default sample count
is about one MEGC2019-CD LOSO training fold; ``--size`` is the side of the stored PNGs that
the reference resizes to 28 on every access (28: no resizing work, the most favourable case
for the reference).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import mertk
from mertk.engine.settings import TrainSettings
from mertk.engine.trainer import LossSum, build_model, configure_threads, train_model


def make_images(folder: Path, n: int, size: int, rng: np.random.Generator) -> tuple[list[Path], list[Path], np.ndarray]:
    """Write ``n`` face and ``n`` HARS flow-like PNGs; return their paths and labels."""
    labels = rng.integers(0, 3, n)
    faces, hars = [], []
    for i in range(n):
        for view, paths in (("face", faces), ("hars", hars)):
            image = (rng.random((size, size, 3)) * 255).astype(np.uint8)
            image[..., labels[i]] //= 2  # a little class signal
            path = folder / f"{view}_{i:04d}.png"
            Image.fromarray(image).save(path)
            paths.append(path)
    return faces, hars, labels


class PairedImages(torch.utils.data.Dataset):
    """The authors' data path: two images per sample decoded and transformed on every access."""

    def __init__(self, faces: list[Path], hars: list[Path], labels: np.ndarray, size: int = 28) -> None:
        from torchvision import transforms

        self.faces, self.hars, self.labels = faces, hars, labels
        self.transform = transforms.Compose([transforms.Resize(size), transforms.ToTensor(),
                                             transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):  # noqa: ANN204
        face = self.transform(Image.open(self.faces[i]).convert("RGB"))
        hars = self.transform(Image.open(self.hars[i]).convert("RGB"))
        return face, hars, int(self.labels[i])


def build(components: mertk.Components, sample: dict[str, torch.Tensor],
          fused_branches: bool = False) -> tuple[torch.nn.Module, LossSum]:
    """The bundled config's model and loss (same for both loops), seeded.

    ``fused_branches`` computes the two Inception branches as one grouped branch: the same
    function of the same weights (see ``DualATME``), only the kernel calls differ.
    """
    torch.manual_seed(1)
    spec = {"name": "dual-atme", "fused_branches": fused_branches}
    model = build_model(spec, components, num_classes=3, in_channels=3, sample=sample)
    loss = LossSum([("focal", 1.0, components.create("loss", "focal")),
                    ("similarity", 0.01, components.create("loss", "similarity"))])
    return model, loss


def authors_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """Put the authors' plain ``nn.MaxPool2d(3, 1, 1)`` in place of mertk's kernel-picking 3x3 max-pool."""
    from mertk_dual_atme.inception import MaxPool3x3

    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, MaxPool3x3):
                setattr(module, name, torch.nn.MaxPool2d(3, 1, 1))
    return model


class Reference:
    """The authors' loop: a shuffling DataLoader over PIL images, default Adam, one epoch per call."""

    def __init__(self, model: torch.nn.Module, loss: LossSum, data: PairedImages) -> None:
        self.model, self.loss = authors_pooling(model), loss
        self.loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(self) -> None:
        self.model.train()
        for face, hars, target in self.loader:
            output = self.model({"face": face, "hars": hars})
            value = self.loss(output, target)
            self.optimizer.zero_grad()
            value.backward()
            self.optimizer.step()


class Mertk:
    """mertk's trainer on in-memory pre-normalised tensors, one epoch per call."""

    def __init__(self, model: torch.nn.Module, loss: LossSum, data: PairedImages, settings: TrainSettings) -> None:
        items = [data[i] for i in range(len(data))]  # the reference's transform, applied once
        self.views = {"face": torch.stack([face for face, _, _ in items]),
                      "hars": torch.stack([hars for _, hars, _ in items])}  # already (x - 0.5) / 0.5
        if settings.channels_last:
            self.views = {k: v.contiguous(memory_format=torch.channels_last) for k, v in self.views.items()}
        self.labels = torch.as_tensor(data.labels, dtype=torch.int64)
        self.model, self.loss, self.settings = model, loss, settings
        self.generator = torch.Generator().manual_seed(1)

    def epoch(self) -> None:
        train_model(self.model, self.loss, self.views, self.labels, self.settings, generator=self.generator)


def timed(run) -> float:  # noqa: ANN001
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=436)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs of each (interleaved)")
    parser.add_argument("--size", type=int, default=28, help="side of the stored PNG images (resized to 28)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    components = mertk.load_components()
    rng = np.random.default_rng(0)
    sample = {"face": torch.zeros(2, 3, 28, 28), "hars": torch.zeros(2, 3, 28, 28)}
    variants = {  # name: (train settings, fused branches)
        "fp32": (TrainSettings(epochs=1), False),
        "fp32 fused branches": (TrainSettings(epochs=1), True),
        "bf16 autocast": (TrainSettings(epochs=1, precision="bf16"), False),
        "bf16 autocast fused branches": (TrainSettings(epochs=1, precision="bf16"), True),
        "bf16 autocast channels-last": (TrainSettings(epochs=1, channels_last=True, precision="bf16"), False),
    }
    with tempfile.TemporaryDirectory() as tmp:
        faces, hars, labels = make_images(Path(tmp), args.samples, args.size, rng)
        data = PairedImages(faces, hars, labels)
        runners = {"reference": Reference(*build(components, sample), data)}
        for name, (settings, fused) in variants.items():
            runners[name] = Mertk(*build(components, sample, fused), data, settings)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for round_ in range(args.epochs + 1):  # interleaved, so that machine load hits all alike
            for name, runner in runners.items():
                t = timed(runner.epoch)
                if round_:  # the first round is a warm-up
                    times[name].append(t)
    ref = float(np.median(times["reference"]))
    print(f"threads={threads} samples={args.samples} images={args.size}px, median of {args.epochs} interleaved "
          f"epochs after one warm-up; load average (1, 5, 15 min) {os.getloadavg()}")
    print(f"{'reference (PIL + DataLoader, default Adam)':<52} {ref:7.3f} s/epoch")
    for name in variants:
        ours = float(np.median(times[name]))
        print(f"{'mertk ' + name:<52} {ours:7.3f} s/epoch   speed-up {ref / ours:5.2f}x")


if __name__ == "__main__":
    main()
