"""CBAM attention (AARS in Dual-ATME): channel attention, then spatial attention."""

from __future__ import annotations

import torch
from pydantic import PositiveInt
from torch import nn

__all__ = ["CBAM"]


class CBAM(nn.Module):
    """Convolutional block attention: ``(B, C, H, W) -> (B, C, H, W)``.

    Channel attention: the spatially average- and max-pooled ``(B, C)`` descriptors go through
    one shared MLP ``C -> C // reduction -> C``; their sum, through a sigmoid, scales the
    channels. Spatial attention: the channel-wise mean and max ``(B, 2, H, W)`` go through a
    ``kernel_size`` convolution to one channel; its sigmoid scales every position.

    After each forward, :attr:`spatial_map` holds the ``(B, 1, H, W)`` spatial weights (for
    explanation plots); it is not part of the autograd contract.

    Args:
        channels: Input channels (supplied by the model).
        reduction: Channel reduction ratio of the MLP (hidden size at least 1).
        kernel_size: Side of the spatial-attention convolution (paper: 3).

    Shape:
        - Input: ``(B, C, H, W)``, ``C = channels``.
        - Output: ``(B, C, H, W)``; :attr:`spatial_map` ``(B, 1, H, W)``.

    Examples:
        >>> from mertk_dual_atme.cbam import CBAM
        >>> cbam = CBAM(channels=8, reduction=4)
        >>> cbam(torch.rand(2, 8, 7, 7)).shape
        torch.Size([2, 8, 7, 7])
        >>> cbam.spatial_map.shape
        torch.Size([2, 1, 7, 7])
    """

    def __init__(self, channels: int, reduction: PositiveInt = 16, kernel_size: PositiveInt = 3) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.spatial_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        x = x * torch.sigmoid(channel)[:, :, None, None]
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        weights = torch.sigmoid(self.spatial(pooled))
        self.spatial_map = weights.detach()
        return x * weights
