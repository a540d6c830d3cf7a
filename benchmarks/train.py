"""Per-epoch training speed: mertk's trainer against a reimplementation of the authors' loop.

Both train the same Dual-ATME model (bi-Inception + CBAM + fusion head, focal + 0.01 *
similarity loss, Adam lr 1e-3, batch 128) on the same 3-channel 28x28 flow images:

* reference: images stored as PNG files, read through a torchvision ``ImageFolder``-style
  dataset with ``Resize(28) -> ToTensor -> Normalize(0.5, 0.5)`` and a shuffling
  ``DataLoader`` every epoch, default ``torch.optim.Adam``, plain 3x3 max-pooling;
* mertk: :func:`mertk.engine.trainer.train_model` on one pre-normalised in-memory tensor per
  view (no DataLoader), fused Adam, separable 3x3 max-pooling.

Usage::

    python benchmarks/train.py [--samples 442] [--epochs 3] [--threads 0]

Prints seconds per epoch for each and the ratio (reference / mertk). The default sample count
is a MEGC2019-CD LOSO training fold (442 of 442 + 1 subject's clips).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import mertk
from mertk.engine.settings import TrainSettings
from mertk.engine.trainer import LossSum, build_model, configure_threads, normalize_views, train_model


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


def build(components: mertk.Components, separable: bool, sample: dict[str, torch.Tensor]) -> tuple[torch.nn.Module, LossSum]:
    torch.manual_seed(1)
    spec = {"name": "dual-atme", "backbone": {"name": "inception", "separable_pool": separable}}
    model = build_model(spec, components, num_classes=3, in_channels=3, sample=sample)
    loss = LossSum([("focal", 1.0, components.create("loss", "focal")),
                    ("similarity", 0.01, components.create("loss", "similarity"))])
    return model, loss


def reference_epochs(model: torch.nn.Module, loss: LossSum, data: PairedImages, epochs: int) -> list[float]:
    loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for face, hars, target in loader:
            output = model({"face": face, "hars": hars})
            value = loss(output, target)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def mertk_epochs(model: torch.nn.Module, loss: LossSum, data: PairedImages, epochs: int) -> tuple[list[float], float]:
    start = time.perf_counter()
    raw = {"face": torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))) for p in data.faces]),
           "hars": torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))) for p in data.hars])}
    views = normalize_views({k: v.permute(0, 3, 1, 2).float() / 255 for k, v in raw.items()}, 0.5, 0.5,
                            torch.device("cpu"))
    labels = torch.as_tensor(data.labels, dtype=torch.int64)
    setup = time.perf_counter() - start
    times: list[float] = []
    clock = [time.perf_counter()]

    def tick(_stats) -> None:  # noqa: ANN001
        now = time.perf_counter()
        times.append(now - clock[0])
        clock[0] = now

    train_model(model, loss, views, labels, TrainSettings(epochs=epochs, batch_size=128),
                generator=torch.Generator().manual_seed(1), on_epoch=tick)
    return times, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=442)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    components = mertk.load_components()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        faces, hars, labels = make_images(Path(tmp), args.samples, 28, rng)
        data = PairedImages(faces, hars, labels)
        sample = {"face": torch.zeros(2, 3, 28, 28), "hars": torch.zeros(2, 3, 28, 28)}
        ref_model, ref_loss = build(components, False, sample)
        ref = reference_epochs(ref_model, ref_loss, data, args.epochs + 1)[1:]  # first epoch: warm-up
        our_model, our_loss = build(components, True, sample)
        ours, setup = mertk_epochs(our_model, our_loss, data, args.epochs + 1)
        ours = ours[1:]
    ref_s, our_s = float(np.median(ref)), float(np.median(ours))
    print(f"threads={threads} samples={args.samples} epochs timed={args.epochs} (after one warm-up epoch)")
    print(f"reference loop (PIL + DataLoader, Adam, 3x3 max-pool): {ref_s:.3f} s/epoch")
    print(f"mertk trainer (in-memory tensors, fused Adam, separable pool): {our_s:.3f} s/epoch "
          f"(+ {setup:.2f} s once to load the images)")
    print(f"speed-up per epoch: {ref_s / our_s:.2f}x")


if __name__ == "__main__":
    main()
