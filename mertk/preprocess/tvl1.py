"""TV-L1 optical flow in torch, batched over frame pairs, on CPU or CUDA.

The Dual TV-L1 scheme of Zach, Pock and Bischof (2007) as detailed by Sánchez, Meinhardt-Llopis
and Facciolo (IPOL 2013), the algorithm behind OpenCV's ``DualTVL1OpticalFlow``. It minimises
``sum |grad u| + lambda * |I1(x + u) - I0(x)|`` coarse to fine: at each pyramid level the second
frame is warped by the current flow ``warps`` times; around each warp the linearised problem is
solved by alternating a point-wise thresholding step (data term), a dual projection step (total
variation) and, every ``inner`` iterations, a median filter of the flow.

Differences from OpenCV: a fixed number of iterations (no per-pixel convergence test, so a
batch runs in lock-step without synchronisation), bilinear instead of bicubic warping,
anti-aliased pyramid levels, and defaults with fewer scales and warps chosen so that the end-point
error on synthetic warps matches OpenCV's defaults (see ``benchmarks/flow.py``).
"""

from __future__ import annotations

from typing import Annotated

import kornia
import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

__all__ = ["TorchTVL1", "tvl1"]


def _forward_grad(u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of ``(B, C, H, W)``, zero on the last column/row."""
    gx = F.pad(u[..., :, 1:] - u[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(u[..., 1:, :] - u[..., :-1, :], (0, 0, 0, 1))
    return gx, gy


def _divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Backward-difference divergence, the negative adjoint of :func:`_forward_grad`."""
    return (px - F.pad(px[..., :, :-1], (1, 0, 0, 0))) + (py - F.pad(py[..., :-1, :], (0, 0, 1, 0)))


def _sample(image: torch.Tensor, flow: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """``image (B, C, H, W)`` read at ``x + flow`` (bilinear, border replicated)."""
    h, w = image.shape[-2:]
    pos = base + flow  # (B, 2, H, W) absolute pixel positions
    grid = torch.stack((pos[:, 0] * (2 / max(w - 1, 1)) - 1, pos[:, 1] * (2 / max(h - 1, 1)) - 1), -1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _level(i0: torch.Tensor, i1: torch.Tensor, u: torch.Tensor, px: torch.Tensor, py: torch.Tensor, *,
           lambda_: float, theta: float, tau: float, warps: int, outer: int, inner: int,
           median: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refine flow ``u (B, 2, H, W)`` and dual variables ``px, py (B, 2, H, W)`` at one level."""
    h, w = i0.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, device=u.device, dtype=u.dtype),
                            torch.arange(w, device=u.device, dtype=u.dtype), indexing="ij")
    base = torch.stack((xs, ys))[None]
    grad1 = kornia.filters.spatial_gradient(i1, mode="diff", order=1)[:, 0]  # (B, 2, H, W): d/dx, d/dy
    stacked = torch.cat((i1, grad1), 1)
    lt, taut = lambda_ * theta, tau / theta
    for _ in range(warps):
        warped = _sample(stacked, u, base)
        i1w, g = warped[:, :1], warped[:, 1:]
        g2 = g.square().sum(1, keepdim=True)
        inv_g2 = torch.where(g2 > 1e-9, 1 / g2.clamp_min(1e-9), torch.zeros_like(g2))
        rho_c = i1w - (g * u).sum(1, keepdim=True) - i0
        for _ in range(outer):
            if median > 1:
                u = kornia.filters.median_blur(u, median)
            for _ in range(inner):
                rho = rho_c + (g * u).sum(1, keepdim=True)
                v = u + (-rho * inv_g2).clamp_(-lt, lt) * g
                u = v + theta * _divergence(px, py)
                gx, gy = _forward_grad(u)
                norm = 1 + taut * (gx.square() + gy.square()).sqrt_()
                px = (px + taut * gx) / norm
                py = (py + taut * gy) / norm
    return u, px, py


def tvl1(first: torch.Tensor, second: torch.Tensor, *, lambda_: float = 0.15, theta: float = 0.3,
         tau: float = 0.25, nscales: int = 3, scale_step: float = 0.5, warps: int = 3, outer: int = 1,
         inner: int = 20, median: int = 5) -> torch.Tensor:
    """TV-L1 flow from ``first`` to ``second`` (see module docs and :class:`TorchTVL1`).

    Args:
        first: ``(B, 1, H, W)`` float frames in ``[0, 1]``.
        second: ``(B, 1, H, W)`` float frames in ``[0, 1]``, same device.

    Returns:
        ``(B, 2, H, W)`` float32 flow ``(u, v)`` in pixels with ``second(x + u) ~= first(x)``.

    Examples:
        >>> from mertk.preprocess.tvl1 import tvl1
        >>> flow = tvl1(torch.rand(2, 1, 24, 24), torch.rand(2, 1, 24, 24), nscales=1, warps=1, inner=2)
        >>> flow.shape, flow.dtype
        (torch.Size([2, 2, 24, 24]), torch.float32)
    """
    i0, i1 = first.float() * 255, second.float() * 255  # lambda_ is tuned for 0..255 grey levels
    levels = [(i0, i1)]
    for _ in range(1, nscales):
        sh, sw = round(levels[-1][0].shape[-2] * scale_step), round(levels[-1][0].shape[-1] * scale_step)
        if min(sh, sw) < 16:
            break
        levels.append(tuple(F.interpolate(x, size=(sh, sw), mode="bilinear", antialias=True,
                                          align_corners=False) for x in (i0, i1)))
    b = i0.shape[0]
    u = px = py = None
    for a, c in reversed(levels):
        lh, lw = a.shape[-2:]
        if u is None:
            u = a.new_zeros(b, 2, lh, lw)
            px, py = a.new_zeros(b, 2, lh, lw), a.new_zeros(b, 2, lh, lw)
        else:
            sx, sy = lw / u.shape[-1], lh / u.shape[-2]
            u = F.interpolate(u, size=(lh, lw), mode="bilinear", align_corners=False)
            u = u * u.new_tensor([sx, sy]).view(1, 2, 1, 1)
            px = F.interpolate(px, size=(lh, lw), mode="bilinear", align_corners=False)
            py = F.interpolate(py, size=(lh, lw), mode="bilinear", align_corners=False)
        u, px, py = _level(a, c, u, px, py, lambda_=lambda_, theta=theta, tau=tau, warps=warps, outer=outer,
                           inner=inner, median=median)
    return u


class TorchTVL1:
    """Batched TV-L1 optical flow in torch (component ``torch-tvl1``); runs on the input's device.

    Args:
        lambda_: Weight of the data term (OpenCV's ``lambda``; smaller: smoother flow).
        theta: Coupling between the data and the total-variation terms.
        tau: Time step of the dual projection (stable for ``tau <= 0.25``).
        nscales: Pyramid levels (fewer when the image gets below 16 px).
        scale_step: Downscaling factor between levels.
        warps: Warpings of the second frame per level.
        outer: Median-filtered rounds per warp.
        inner: Iterations per round.
        median: Median filter size (``1``: none).
        threads: CPU threads used during a call on CPU tensors. Default 1: each operation works
            on small images, where thread synchronisation costs more than it saves (much more on
            a busy machine); the pipeline runs clips in parallel worker processes instead.

    Shape:
        - Input: ``first``, ``second`` ``(B, 1, H, W)`` float frames in ``[0, 1]``, same device.
        - Output: ``(B, 2, H, W)`` float32 flow ``(u, v)`` in pixels, on that device.

    Examples:
        >>> from mertk.preprocess.tvl1 import TorchTVL1
        >>> TorchTVL1(nscales=1, warps=1, inner=2)(torch.rand(2, 1, 24, 24), torch.rand(2, 1, 24, 24)).shape
        torch.Size([2, 2, 24, 24])
    """

    #: Runs on the device of its inputs: the pipeline batches clips on the GPU for it.
    uses_device = True

    def __init__(self, lambda_: PositiveFloat = 0.15, theta: PositiveFloat = 0.3,
                 tau: PositiveFloat = 0.25, nscales: PositiveInt = 3,
                 scale_step: Annotated[float, Field(gt=0, lt=1)] = 0.5, warps: PositiveInt = 3,
                 outer: PositiveInt = 1, inner: PositiveInt = 20, median: NonNegativeInt = 5,
                 threads: PositiveInt = 1) -> None:
        self.params = dict(lambda_=lambda_, theta=theta, tau=tau, nscales=nscales, scale_step=scale_step,
                           warps=warps, outer=outer, inner=inner, median=median)
        self.threads = threads

    def __call__(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        before = torch.get_num_threads()
        if first.device.type == "cpu":
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                return tvl1(first, second, **self.params)
        finally:
            torch.set_num_threads(before)
