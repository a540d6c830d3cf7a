"""An independent reimplementation of the Dual-ATME authors' model and training loop.

Written from the method description in ``shared/reference/dual-atme.md`` with plain torch
layers only (nothing from mertk), so that ``benchmarks/parity.py`` can compare mertk's
``dual-atme`` with the authors' code on identical inputs and folds:

* Inception block: 1x1; 1x1 (6) -> 3x3; 1x1 (6) -> 5x5; 3x3 max-pool -> 1x1, each convolution
  followed by BatchNorm and ReLU, concatenated; ``nn.Conv2d`` and ``nn.MaxPool2d``.
* Branch: Inception(3, 6) -> max-pool 2 -> Inception(24, 12) -> max-pool 2: ``(B, 48, 7, 7)``.
* CBAM as in the authors' code: one instance applied to both branches; the channel MLP and
  the spatial convolution (k = 3) without bias, as in the original CBAM code.
* Fusion: concatenate, flatten, FC 1024 -> BatchNorm1d -> ReLU -> Dropout 0.5 -> FC classes.
* Loss: focal (gamma 2, alpha 1) + 0.01 * mean(1 - cos(upper, lower)).
* Loop: default ``torch.optim.Adam`` (lr 1e-3), batches of 128 in a new random order every
  epoch, the last partial batch kept (one of size 1 is skipped: BatchNorm cannot train on it),
  fp32, last-epoch model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AuthorsDualATME", "predict_reference", "train_reference"]


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
    """``(B, C, H, W) -> (B, C, H, W)``: channel attention, then spatial attention (no biases)."""

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 3) -> None:
        super().__init__()
        hidden = channels // reduction
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, channels, 1, bias=False))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.sigmoid(self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1)))
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class AuthorsDualATME(nn.Module):
    """``(face (B, 3, 28, 28), hars (B, 3, 28, 28))`` -> ``logits (B, K)``, ``upper``, ``lower``
    ``(B, 2352)`` (the flattened branch maps after attention)."""

    def __init__(self, num_classes: int = 3, in_channels: int = 3) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(Inception(in_channels, 6), nn.MaxPool2d(2),
                                 Inception(24, 12), nn.MaxPool2d(2))

        self.upper, self.lower, self.attention = branch(), branch(), CBAM(48)
        self.head = nn.Sequential(nn.Linear(2 * 48 * 7 * 7, 1024), nn.BatchNorm1d(1024),
                                  nn.ReLU(inplace=True),
                                  nn.Dropout(0.5), nn.Linear(1024, num_classes))

    def forward(self, face: torch.Tensor,
                hars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        upper = self.attention(self.upper(face)).flatten(1)
        lower = self.attention(self.lower(hars)).flatten(1)
        return self.head(torch.cat([upper, lower], dim=1)), upper, lower


def _loss(logits: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor,
          target: torch.Tensor) -> torch.Tensor:
    log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    focal = (-(1 - log_p.exp()) ** 2 * log_p).mean()
    return focal + 0.01 * (1 - F.cosine_similarity(upper, lower, dim=1)).mean()


def train_reference(face: torch.Tensor, hars: torch.Tensor, labels: torch.Tensor, *, seed: int,
                    epochs: int = 60, batch_size: int = 128, num_classes: int = 3) -> AuthorsDualATME:
    """Train on normalised ``(N, 3, 28, 28)`` views and ``(N,)`` labels; the last epoch's model."""
    torch.manual_seed(seed)
    model = AuthorsDualATME(num_classes, face.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order_generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=order_generator)
        for start in range(0, len(labels), batch_size):
            index = order[start:start + batch_size]
            if len(index) < 2:
                continue
            loss = _loss(*model(face[index], hars[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def predict_reference(model: AuthorsDualATME, face: torch.Tensor, hars: torch.Tensor) -> torch.Tensor:
    """Predicted classes ``(N,)`` of the model in eval mode."""
    model.eval()
    with torch.inference_mode():
        return model(face, hars)[0].argmax(1)
