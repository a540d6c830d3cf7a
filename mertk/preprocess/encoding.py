"""Flow encoding: a ``(u, v)`` flow field becomes a multi-channel image for the model.

Channels: ``u``, ``v``, optical ``strain`` ``sqrt(ux^2 + vy^2 + 0.5 * (uy + vx)^2)`` (the
magnitude of the infinitesimal strain tensor, derivatives by central differences) and
``magnitude`` ``sqrt(u^2 + v^2)``. Normalisation: ``minmax`` scales each channel of each image to
``[0, 1]``; ``global`` uses one min and max per channel over the whole batch (all samples of the
run); ``none`` keeps raw values.
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia
import torch

__all__ = ["flow_channels", "normalize", "encode"]


def flow_channels(flow: torch.Tensor, channels: Sequence[str]) -> torch.Tensor:
    """Raw channels of a flow field.

    Args:
        flow: ``(N, 2, H, W)`` flow ``(u, v)`` in pixels.
        channels: Names among ``u``, ``v``, ``strain``, ``magnitude``.

    Returns:
        ``(N, len(channels), H, W)`` float32.

    Examples:
        >>> from mertk.preprocess.encoding import flow_channels
        >>> flow_channels(torch.rand(2, 2, 8, 8), ["u", "v", "strain"]).shape
        torch.Size([2, 3, 8, 8])
    """
    u, v = flow[:, :1], flow[:, 1:2]
    out = []
    for name in channels:
        if name == "u":
            out.append(u)
        elif name == "v":
            out.append(v)
        elif name == "magnitude":
            out.append(flow.square().sum(1, keepdim=True).sqrt())
        elif name == "strain":
            d = kornia.filters.spatial_gradient(flow, mode="diff", order=1)  # (N, 2, 2, H, W): d/dx, d/dy
            ux, uy, vx, vy = d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1]
            out.append((ux.square() + vy.square() + 0.5 * (uy + vx).square()).sqrt()[:, None])
        else:
            raise ValueError(f"unknown flow channel {name!r}")
    return torch.cat(out, 1).float()


def normalize(image: torch.Tensor, mode: str) -> torch.Tensor:
    """Scale ``(N, C, H, W)`` channels to ``[0, 1]``: per image (``minmax``), over the batch
    (``global``) or not at all (``none``). A constant channel becomes 0.

    Shape:
        - Input: ``(N, C, H, W)``.
        - Output: ``(N, C, H, W)``.

    Examples:
        >>> from mertk.preprocess.encoding import normalize
        >>> image = normalize(torch.randn(2, 3, 8, 8), "minmax")
        >>> image.shape, image.amin(dim=(2, 3)).eq(0).all().item()  # each channel's minimum is 0
        (torch.Size([2, 3, 8, 8]), True)
    """
    if mode == "none":
        return image
    dims = (2, 3) if mode == "minmax" else (0, 2, 3)
    low, high = image.amin(dims, keepdim=True), image.amax(dims, keepdim=True)
    return (image - low) / (high - low).clamp_min(1e-12)


def encode(flow: torch.Tensor, channels: Sequence[str], mode: str = "minmax") -> torch.Tensor:
    """``(N, 2, H, W)`` flow -> ``(N, C, H, W)`` encoded image (see module docs).

    Shape:
        - Input: ``flow`` ``(N, 2, H, W)``.
        - Output: ``(N, len(channels), H, W)`` float32.

    Examples:
        >>> from mertk.preprocess.encoding import encode
        >>> image = encode(torch.randn(2, 2, 8, 8), ["u", "v", "strain", "magnitude"], mode="global")
        >>> image.shape, image.dtype
        (torch.Size([2, 4, 8, 8]), torch.float32)
    """
    return normalize(flow_channels(flow, channels), mode)
