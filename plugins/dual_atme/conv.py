"""A 2-D convolution with ``nn.Conv2d``'s parameters and function, on faster CPU kernels.

The Inception blocks' convolutions are small (3-48 channels, 7-28 px, groups of 1 or 2), a
size where torch 2.14's CPU convolution (oneDNN) is slow on channels-first tensors. Measured
per layer on 2 threads, batch 128, forward + backward (``benchmarks/train.py`` measures the
whole network):

- a 1x1 convolution is a matrix product per sample, ``W (O, C) @ x (C, H*W)``; as a batched
  ``torch.matmul`` it took 3.5 instead of 4.2 ms in bf16 (block 1's entry layer, grouped) and
  2.7 instead of 4.4 ms in fp32;
- a 3x3 or 5x5 convolution is faster in channels-last order: 9.8 instead of 47.6 ms for block
  1's grouped 5x5 layer in fp32, 4.4 instead of 5.8 ms in bf16, layout copies included.

The layer takes and returns channels-first tensors, so BatchNorm, ReLU and pooling keep the
order their kernels are fast in. On other devices, and inside stacked training
(:func:`mertk.api.is_stacked`), it is ``nn.Conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mertk.api import is_stacked

__all__ = ["Conv2d"]


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same arguments, parameters, state dict and function) with CPU kernels picked by size.

    On CPU, ``(B, C, H, W) -> (B, O, H', W')`` channels-first in and out: a 1x1 convolution
    with stride 1 and no padding is a batched matrix product; any other is computed by
    ``F.conv2d`` on a channels-last copy of the input, and its output is copied back to
    channels-first order. Values agree with ``nn.Conv2d`` up to the summation order.

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, out_channels, H', W')``, sized as by ``nn.Conv2d``, contiguous channels-first.

    Examples:
        >>> from mertk_dual_atme.conv import Conv2d
        >>> conv = Conv2d(4, 6, 3, padding=1, groups=2)
        >>> y = conv(torch.rand(2, 4, 7, 7))
        >>> y.shape, y.is_contiguous()
        (torch.Size([2, 6, 7, 7]), True)
        >>> Conv2d(4, 6, 1)(torch.rand(2, 4, 7, 7)).shape  # 1x1: a batched matrix product
        torch.Size([2, 6, 7, 7])
        >>> list(conv.state_dict()) == list(torch.nn.Conv2d(4, 6, 3, padding=1, groups=2).state_dict())
        True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.ndim != 4 or self.padding_mode != "zeros" or is_stacked(x):
            return super().forward(x)
        if self.kernel_size == (1, 1) and self.stride == (1, 1) and self.padding in ((0, 0), "valid"):
            return self._pointwise(x)
        y = F.conv2d(x.contiguous(memory_format=torch.channels_last), self.weight, self.bias, self.stride,
                     self.padding, self.dilation, self.groups)
        return y.contiguous()

    def _pointwise(self, x: torch.Tensor) -> torch.Tensor:
        """1x1 convolution as ``(g, O/g, C/g) @ (B, g, C/g, H*W) -> (B, g, O/g, H*W)``."""
        batch, channels, height, width = x.shape
        g = self.groups
        weight = self.weight.view(g, self.out_channels // g, channels // g)
        y = torch.matmul(weight, x.reshape(batch, g, channels // g, height * width))
        if self.bias is not None:
            y = y + self.bias.view(g, -1, 1).to(y.dtype)
        return y.view(batch, self.out_channels, height, width)
