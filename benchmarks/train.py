"""Per-epoch training speed: mertk's trainer against a reimplementation of the authors' loop.

Both train the Dual-ATME model (bi-Inception + CBAM + fusion head, focal + 0.01 *
similarity loss, Adam lr 1e-3, batch 128) on the same 3-channel flow images:

* reference: the authors' layers (three separate 1x1 convolutions per Inception block,
  ``nn.Conv2d`` and ``nn.MaxPool2d`` everywhere) in float32; images stored as PNG files, read
  through a dataset with the authors' ``Resize(28) -> ToTensor -> Normalize(0.5, 0.5)`` and a
  shuffling ``DataLoader`` every epoch; default ``torch.optim.Adam``;
* mertk: :class:`mertk.engine.trainer.Trainer` on one pre-normalised in-memory tensor per view
  (no DataLoader), fused Adam, mertk's Inception (one fused 1x1 entry convolution,
  convolutions and max-pooling on faster CPU kernels; the same function as the authors'
  layers), in fp32 and in bf16 autocast (``train.precision``), each with both branches
  computed as one grouped branch (``model.fused_branches``, the default) or one by one.

The images are the demo dataset's (``--images demo``): real TV-L1 flow of real face photos
with generated motion, encoded by mertk's preprocessing of ``dual-atme.yaml`` (whole face and
HARS puzzle), repeated in order up to ``--samples``; ``--images noise`` uses random images
instead, which PNG-decode about 3x faster. They are stored at each of ``--sizes``: 28 px, the
network's input, where ``Resize(28)`` has nothing to do (the most favourable case for the
reference), and 128 px, the side mertk computes the flow at (``preprocess.align.size``), i.e.
the flow images as the authors' loop would read them (their transform resizes, so their
stored images are larger than 28). mertk trains on the reference's own transform of the same
files, applied once.

Each side keeps one optimizer across its epochs. Epochs of all variants are interleaved
(reference, then each mertk variant, repeated), so that load from other processes on a shared
machine affects them alike; medians are reported.

Usage::

    python benchmarks/train.py [--samples 436] [--epochs 5] [--sizes 28 128] [--images demo]
                               [--threads 0] [--workers 0]

Prints seconds per epoch for each and the ratio (reference / mertk), once per stored image
size. The default sample count is about one MEGC2019-CD LOSO training fold. The authors'
``DataLoader`` used ``num_workers=1`` (``--workers 1``); the default here, 0, is faster on 2
cores (a worker process competes with the training threads), so it is the reference measured
against. The first run generates and preprocesses the demo dataset (about a minute).
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
from mertk.engine.trainer import LossSum, Trainer, build_model, configure_threads


def demo_flow_images(size: int, components: mertk.Components) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The demo dataset's encoded flow views at ``size`` px as uint8 ``(N, size, size, 3)`` images, and labels.

    Real TV-L1 flow of real face photos (with generated motion), through mertk's preprocessing
    of ``dual-atme.yaml`` (``u, v, strain``, min-max per image): the whole face and the HARS
    puzzle, as the authors stored them as PNGs. The first call generates and preprocesses the
    demo (about a minute); later ones read mertk's cache.
    """
    from mertk.config import load_config
    from mertk.engine.run import load_data

    overrides = [f"preprocess.views.face.size={size}", f"preprocess.views.hars.size={size}"]
    data = load_data(load_config("dual-atme.yaml", components, overrides), components)
    images = {name: (view.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
              for name, view in data.views.items()}
    return images, np.array([s.label for s in data.samples])


def noise_images(size: int, n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Random uint8 images with a little class signal (PNG-decode 3x faster than flow images)."""
    labels = rng.integers(0, 3, n)
    images = {}
    for view in ("face", "hars"):
        image = (rng.random((n, size, size, 3)) * 255).astype(np.uint8)
        image[np.arange(n), ..., labels] //= 2
        images[view] = image
    return images, labels


def write_images(folder: Path, images: dict[str, np.ndarray], labels: np.ndarray,
                 n: int) -> tuple[list[Path], list[Path], np.ndarray]:
    """Write ``n`` samples (the given ones repeated in order) as face and HARS PNGs; paths and labels."""
    paths: dict[str, list[Path]] = {"face": [], "hars": []}
    for i in range(n):
        for view in paths:
            path = folder / f"{view}_{i:04d}.png"
            Image.fromarray(images[view][i % len(labels)]).save(path)
            paths[view].append(path)
    return paths["face"], paths["hars"], labels[np.arange(n) % len(labels)]


class PairedImages(torch.utils.data.Dataset):
    """The authors' data path: two images per sample decoded and transformed on every access."""

    def __init__(self, faces: list[Path], hars: list[Path], labels: np.ndarray, size: int = 28) -> None:
        from torchvision import transforms

        self.faces, self.hars, self.labels = faces, hars, labels
        self.transform = transforms.Compose([transforms.Resize(size), transforms.ToTensor(),
                                             transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
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


def authors_layers(model: torch.nn.Module) -> torch.nn.Module:
    """Give each Inception branch of ``model`` the authors' layers (same shapes, fresh weights)."""
    from reference import Inception  # the authors' block, as benchmarks/parity.py trains it

    from mertk_dual_atme.inception import InceptionBranch

    torch.manual_seed(1)
    for branch in model.modules():
        if isinstance(branch, InceptionBranch):
            args = branch.arguments
            layers, channels = [], args["in_channels"]
            for width in args["widths"]:
                layers += [Inception(channels, width, args["reduce"]), torch.nn.MaxPool2d(2)]
                channels = 4 * width
            branch.layers = torch.nn.Sequential(*layers)
    return model


class Reference:
    """The authors' loop: a shuffling DataLoader over PIL images, default Adam, one epoch per call."""

    def __init__(self, model: torch.nn.Module, loss: LossSum, data: PairedImages, workers: int = 0) -> None:
        self.model, self.loss = authors_layers(model), loss
        self.loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True, num_workers=workers)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch(self) -> None:
        self.model.train()
        for face, hars, target in self.loader:
            output = self.model({"face": face, "hars": hars})
            value = self.loss(output, target)
            self.optimizer.zero_grad()
            value.backward()
            self.optimizer.step()


def in_memory(data: PairedImages) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The reference's transform applied once to every sample: ``{view: (N, 3, 28, 28)}`` and ``(N,)`` labels."""
    items = [data[i] for i in range(len(data))]
    views = {"face": torch.stack([face for face, _, _ in items]),
             "hars": torch.stack([hars for _, hars, _ in items])}  # already (x - 0.5) / 0.5
    return views, torch.as_tensor(data.labels, dtype=torch.int64)


class Mertk:
    """mertk's trainer on in-memory pre-normalised tensors, one epoch per call."""

    def __init__(self, model: torch.nn.Module, loss: LossSum, views: dict[str, torch.Tensor], labels: torch.Tensor,
                 settings: TrainSettings) -> None:
        self.trainer = Trainer(model, loss, views, labels, settings, generator=torch.Generator().manual_seed(1))

    def epoch(self) -> None:
        self.trainer.epoch()


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


VARIANTS = {  # name: (precision, fused branches)
    "fp32, fused branches": ("fp32", True),
    "fp32, branches one by one": ("fp32", False),
    "bf16 autocast, fused branches": ("bf16", True),
    "bf16 autocast, branches one by one": ("bf16", False),
}


def measure(size: int, args: argparse.Namespace, components: mertk.Components) -> dict[str, float]:
    """Median seconds per epoch of the reference and each mertk variant on ``size`` px PNGs."""
    sample = {"face": torch.zeros(2, 3, 28, 28), "hars": torch.zeros(2, 3, 28, 28)}
    if args.images == "demo":
        images, labels = demo_flow_images(size, components)
    else:
        images, labels = noise_images(size, args.samples, np.random.default_rng(0))
    with tempfile.TemporaryDirectory() as tmp:
        faces, hars, labels = write_images(Path(tmp), images, labels, args.samples)
        data = PairedImages(faces, hars, labels)
        runners = {"reference": Reference(*build(components, sample), data, args.workers)}
        views, tensor_labels = in_memory(data)
        for name, (precision, fused) in VARIANTS.items():
            settings = TrainSettings(epochs=args.epochs + 1, precision=precision)
            runners[name] = Mertk(*build(components, sample, fused), views, tensor_labels, settings)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for round_ in range(args.epochs + 1):  # interleaved, so that machine load hits all alike
            for name, runner in runners.items():
                t = timed(runner.epoch)
                if round_:  # the first round is a warm-up
                    times[name].append(t)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=436)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs of each (interleaved)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 128],
                        help="sides of the stored PNG images (resized to 28), one measurement each")
    parser.add_argument("--images", choices=["demo", "noise"], default="demo",
                        help="the demo dataset's flow images (default) or random noise")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    parser.add_argument("--workers", type=int, default=0, help="the reference DataLoader's num_workers (authors: 1)")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    components = mertk.load_components()
    for size in args.sizes:
        seconds = measure(size, args, components)
        ref = seconds["reference"]
        print(f"threads={threads} samples={args.samples} images={args.images} {size}px workers={args.workers}, "
              f"median of {args.epochs} interleaved epochs after one warm-up; "
              f"load average (1, 5, 15 min) {os.getloadavg()}")
        print(f"{'reference (PIL + DataLoader, default Adam)':<52} {ref:7.3f} s/epoch")
        for name in VARIANTS:
            print(f"{'mertk ' + name:<52} {seconds[name]:7.3f} s/epoch   speed-up {ref / seconds[name]:5.2f}x")


if __name__ == "__main__":
    main()
