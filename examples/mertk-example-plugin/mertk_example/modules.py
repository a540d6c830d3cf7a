"""The components themselves: ordinary torch modules following mertk's contracts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mertk.api import ModelOutput


class ECA(nn.Module):
    """Efficient Channel Attention: re-weights channels with a 1-D conv over their means.

    Args:
        channels: Number of input channels ``C`` (supplied by the model).
        kernel_size: Odd size of the 1-D convolution across neighbouring channels.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``
    """

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.conv(x.mean(dim=(2, 3)).unsqueeze(1))  # (B, 1, C)
        return x * torch.sigmoid(weights).transpose(1, 2).unsqueeze(-1)  # (B, C, 1, 1) broadcast


class Poly1Loss(nn.Module):
    """Poly-1 loss: cross-entropy plus ``epsilon * (1 - p_target)``, averaged over the batch.

    Args:
        epsilon: Weight of the first polynomial term; ``0`` gives plain cross-entropy.
    """

    def __init__(self, epsilon: float = 1.0) -> None:
        super().__init__()
        self.epsilon = epsilon

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        logits = output.logits  # (B, K)
        p_target = logits.softmax(dim=1).gather(1, target[:, None]).squeeze(1)  # (B,)
        return (F.cross_entropy(logits, target, reduction="none") + self.epsilon * (1 - p_target)).mean()
