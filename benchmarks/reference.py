"""An independent reimplementation of the Dual-ATME authors' model and training loop.

Written in plain torch (nothing from mertk) from the method description in
``shared/reference/dual-atme.md`` and checked line by line against the authors' public code
(HaoliangZhou/Dual-ATME: ``Me_Model_att.py`` class ``MEROIInception``, ``LossFunctions.py``
``FocalLoss``, ``ModelTrain_MERoI_flow_3ls_cde2019.py``), so that ``benchmarks/parity.py`` can
compare mertk's ``dual-atme`` with the authors' method on identical inputs and folds. What it
reproduces, as the authors' code does it:

* Inception block(cin, w): 1x1 (w); 1x1 (6) -> 3x3 pad 1 (w); 1x1 (6) -> 5x5 pad 2 (w);
  3x3 max-pool stride 1 pad 1 -> 1x1 (w); every convolution ``nn.Conv2d`` with its default bias
  and initialisation, followed by ``nn.BatchNorm2d`` (defaults: eps 1e-5, momentum 0.1) and
  ReLU; outputs concatenated in that order.
* Branch: Inception(3, 6) -> max-pool 2 -> Inception(24, 12) -> max-pool 2: ``(B, 48, 7, 7)``.
* CBAM(48, reduction 16, k 3): channel attention ``sigmoid(MLP(avg) + MLP(max))`` with the MLP
  ``nn.Linear(48, 3) -> ReLU -> nn.Linear(3, 48)`` *with biases*, then spatial attention
  ``sigmoid(conv3x3([mean_c, max_c]))``, a ``nn.Conv2d(2, 1, 3, padding=1)`` *with bias*.
  By default one CBAM instance is applied to both branches (``attention="shared"``, the
  authors' code); ``attention="upper"`` applies it to the upper branch only (the paper, and
  mertk's default ``attention_on: upper``).
* Fusion: concatenate both maps, flatten, ``Linear(4704, 1024) -> BatchNorm1d -> ReLU ->
  Dropout(0.5) -> Linear(1024, K)``. The flattened branch maps after attention feed the
  similarity loss.
* Modules are created in the authors' order (upper block 1, upper block 2, lower block 1,
  lower block 2, CBAM, head), so the default initialisation draws the same sequence from the
  global generator as their constructor does.
* Loss: focal (gamma 2, alpha 1 for every class, mean over the batch)
  + 0.01 * mean(1 - cos(upper, lower)) (``torch.nn.CosineSimilarity(dim=1)``, eps 1e-8).
* Loop: ``torch.optim.Adam(lr=1e-3)`` with its defaults (betas 0.9/0.999, eps 1e-8, no weight
  decay, the single-tensor implementation on CPU); no learning-rate schedule (the authors
  create ``StepLR(10, 0.5)`` and never step it); batch 128 in a new random order every epoch,
  the last partial batch kept; ``model.train()`` every epoch; 60 epochs; the last epoch's model
  predicts in ``eval()`` mode (BatchNorm running statistics, no dropout), argmax of the logits.
* Inputs: the caller passes views already scaled like the authors' ``ToTensor`` +
  ``Normalize(0.5, 0.5)``, i.e. ``(x - 0.5) / 0.5`` of images in ``[0, 1]``.

Deliberate differences from the authors' code (none changes the function being trained):

* Seeding: the authors call ``torch.manual_seed(1)`` once per program, so each subject's
  initialisation and batch order depend on every earlier subject's training; here each fold is
  seeded on its own (``seed``: initialisation and dropout from the global generator, the batch
  order from its own generator), so a fold's result does not depend on the others.
* Batch order: a ``torch.randperm`` per epoch from that generator instead of a ``DataLoader``
  with ``shuffle=True`` (uniformly random permutations either way; different random streams).
* A final batch of one sample is skipped: the authors' loop would stop with an error there
  (``BatchNorm1d`` cannot train on one sample).
* Focal loss through ``log_softmax`` rather than ``log(softmax)``: the same value up to
  rounding, and finite when a probability underflows.
* CPU float32. The authors trained on CUDA, where cuDNN's default TF32 convolutions on Ampere
  and later GPUs round the convolution inputs to a 10-bit mantissa; this runs full float32.
* Test batches: all test samples at once instead of batches of 128 (eval mode: the same
  predictions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AuthorsDualATME", "CBAM", "Inception", "fit_reference", "predict_reference", "reference_loss",
           "to_mertk_state", "train_reference"]

Attention = Literal["shared", "upper"]


def _conv(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Inception(nn.Module):
    """``(B, cin, H, W) -> (B, 4 * width, H, W)``: four parallel paths, concatenated."""

    def __init__(self, cin: int, width: int, reduce: int = 6) -> None:
        super().__init__()
        self.path1 = _conv(cin, width, 1)
        self.path3 = nn.Sequential(_conv(cin, reduce, 1), _conv(reduce, width, 3))
        self.path5 = nn.Sequential(_conv(cin, reduce, 1), _conv(reduce, width, 5))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), _conv(cin, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.path1(x), self.path3(x), self.path5(x), self.pool(x)], dim=1)


class CBAM(nn.Module):
    """``(B, C, H, W) -> (B, C, H, W)``: channel attention, then spatial attention (with biases)."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 3) -> None:
        super().__init__()
        hidden = channels // reduction
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel = self.mlp(F.adaptive_avg_pool2d(x, 1).flatten(1)) + self.mlp(F.adaptive_max_pool2d(x, 1).flatten(1))
        x = x * torch.sigmoid(channel)[:, :, None, None]
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class AuthorsDualATME(nn.Module):
    """``(face (B, 3, 28, 28), hars (B, 3, 28, 28))`` -> ``logits (B, K)``, ``upper``, ``lower``
    ``(B, 2352)`` (the flattened branch maps after attention).

    ``attention``: ``"shared"`` (one CBAM on both branches: the authors' code) or ``"upper"``
    (CBAM on the upper branch only: the paper)."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3, attention: Attention = "shared") -> None:
        super().__init__()
        if attention not in ("shared", "upper"):
            raise ValueError(f"attention {attention!r}: shared or upper")

        def branch() -> nn.Sequential:
            return nn.Sequential(Inception(in_channels, 6), nn.MaxPool2d(2),
                                 Inception(24, 12), nn.MaxPool2d(2))

        self.upper, self.lower, self.attention = branch(), branch(), CBAM(48)
        self.attend_lower = attention == "shared"
        self.head = nn.Sequential(nn.Linear(2 * 48 * 7 * 7, 1024), nn.BatchNorm1d(1024),
                                  nn.ReLU(inplace=True),
                                  nn.Dropout(0.5), nn.Linear(1024, num_classes))

    def forward(self, face: torch.Tensor,
                hars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        upper = self.attention(self.upper(face)).flatten(1)
        lower = self.lower(hars)
        lower = (self.attention(lower) if self.attend_lower else lower).flatten(1)
        return self.head(torch.cat([upper, lower], dim=1)), upper, lower


def reference_loss(logits: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
    """Focal loss (gamma 2, alpha 1) + 0.01 * mean(1 - cos(upper, lower))."""
    log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    focal = (-(1 - log_p.exp()) ** 2 * log_p).mean()
    return focal + 0.01 * (1 - F.cosine_similarity(upper, lower, dim=1)).mean()


def train_reference(face: torch.Tensor, hars: torch.Tensor, labels: torch.Tensor, *, seed: int,
                    epochs: int = 60, batch_size: int = 128, num_classes: int = 3,
                    attention: Attention = "shared") -> AuthorsDualATME:
    """Train on normalised ``(N, 3, 28, 28)`` views and ``(N,)`` labels; the last epoch's model.

    ``seed`` seeds the initialisation and dropout (the global generator) and the batch order
    (a generator of its own)."""
    torch.manual_seed(seed)
    model = AuthorsDualATME(num_classes, face.shape[1], attention)
    fit_reference(model, face, hars, labels, epochs=epochs, batch_size=batch_size,
                  order=torch.Generator().manual_seed(seed))
    return model


def fit_reference(model: AuthorsDualATME, face: torch.Tensor, hars: torch.Tensor, labels: torch.Tensor, *,
                  epochs: int, batch_size: int, order: torch.Generator,
                  on_epoch: Callable[[int], None] | None = None) -> None:
    """The authors' loop on a built ``model``: default Adam (lr 1e-3, single-tensor), batches of
    ``batch_size`` in a new order from ``order`` every epoch; dropout draws from the global
    generator. ``on_epoch(epoch)`` (1-based) is called after each epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=False)
    for epoch in range(1, epochs + 1):
        model.train()
        permutation = torch.randperm(len(labels), generator=order)
        for start in range(0, len(labels), batch_size):
            index = permutation[start:start + batch_size]
            if len(index) < 2:
                continue
            loss = reference_loss(*model(face[index], hars[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch)


def to_mertk_state(reference: AuthorsDualATME) -> dict[str, torch.Tensor]:
    """The reference's weights in the state-dict layout of mertk's ``dual-atme`` model
    (per-branch ``upper.*`` / ``lower.*``, the three entry 1x1 convolutions as one ``entry``
    layer: the 1x1 path's channels, then the 3x3 and 5x5 paths' reductions; CBAM as
    ``upper_attention`` and, when shared, ``lower_attention``). Load it with ``strict=False``:
    the only keys it lacks are BatchNorm step counters of the merged layers."""
    ref = reference.state_dict()
    state: dict[str, torch.Tensor] = {}
    for branch in ("upper", "lower"):
        for block, index in ((0, 0), (2, 2)):
            src, dst = f"{branch}.{index}.", f"{branch}.layers.{block}."
            for part in ("weight", "bias", "running_mean", "running_var"):
                for layer in (0, 1):  # 0: the convolution, 1: its BatchNorm
                    if f"{src}path1.{layer}.{part}" not in ref:
                        continue
                    state[f"{dst}entry.{layer}.{part}"] = torch.cat(
                        [ref[f"{src}path1.{layer}.{part}"], ref[f"{src}path3.0.{layer}.{part}"],
                         ref[f"{src}path5.0.{layer}.{part}"]])
                    state[f"{dst}conv3.{layer}.{part}"] = ref[f"{src}path3.1.{layer}.{part}"]
                    state[f"{dst}conv5.{layer}.{part}"] = ref[f"{src}path5.1.{layer}.{part}"]
                    state[f"{dst}pool.1.{layer}.{part}"] = ref[f"{src}pool.1.{layer}.{part}"]
            state[f"{dst}entry.1.num_batches_tracked"] = ref[f"{src}path1.1.num_batches_tracked"]
            for name in ("conv3", "conv5"):
                state[f"{dst}{name}.1.num_batches_tracked"] = ref[f"{src}path1.1.num_batches_tracked"]
            state[f"{dst}pool.1.1.num_batches_tracked"] = ref[f"{src}pool.1.1.num_batches_tracked"]
    for prefix in ["upper_attention"] + (["lower_attention"] if reference.attend_lower else []):
        state.update({prefix + key[len("attention"):]: value for key, value in ref.items()
                      if key.startswith("attention.")})
    state.update({key: value for key, value in ref.items() if key.startswith("head.")})
    return state


def predict_reference(model: AuthorsDualATME, face: torch.Tensor, hars: torch.Tensor) -> torch.Tensor:
    """Predicted classes ``(N,)`` of the model in eval mode."""
    model.eval()
    with torch.inference_mode():
        return model(face, hars)[0].argmax(1)
