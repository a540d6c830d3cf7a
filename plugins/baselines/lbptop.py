"""LBP-TOP: local binary patterns on three orthogonal planes of the aligned grey clip.

For a clip volume ``(T, H, W)``, scikit-image's :func:`~skimage.feature.local_binary_pattern`
codes every XY plane (each frame), every XT plane (each row over time) and every YT plane (each
column over time). The spatial grid is cut into ``blocks x blocks`` cells; each cell gets one
normalised code histogram per plane orientation (Zhao and Pietikainen, 2007; the CASME II
baseline). Border pixels, whose neighbourhood leaves the volume, are not counted.

:class:`LbpTop` is a ``roi_selector`` with ``source = "frames"``: the preprocessing pipeline
hands it the aligned onset..offset clip instead of the flow image. Its view is the histograms
laid out as a map, ``(3 * bins, blocks, blocks)``, which a fitted classifier such as
``linear-svm`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, PositiveInt

if TYPE_CHECKING:
    import torch

__all__ = ["code_count", "lbp_top", "LbpTop"]

Method = Literal["nri_uniform", "uniform", "default"]


def code_count(method: str, points: int) -> int:
    """Number of distinct codes of scikit-image's LBP ``method`` with ``points`` neighbours.

    >>> code_count("nri_uniform", 8), code_count("uniform", 8), code_count("default", 8)
    (59, 10, 256)
    """
    return {"nri_uniform": points * (points - 1) + 3, "uniform": points + 2, "default": 2**points}[method]


def lbp_top(volume: np.ndarray, *, points: int = 8, radius: int = 1, blocks: int = 5,
            method: Method = "nri_uniform") -> np.ndarray:
    """LBP-TOP histograms of one clip.

    Args:
        volume: ``(T, H, W)`` uint8 grey frames, ``T, H, W > 2 * radius``.
        points: Neighbours on the circle.
        radius: Circle radius in pixels (and frames, on the XT and YT planes).
        blocks: Cells per side of the spatial grid.
        method: scikit-image LBP variant (``nri_uniform``: 59 codes for 8 points).

    Returns:
        ``(3 * bins, blocks, blocks)`` float32: for each cell, the XY, XT and YT histograms
        (each summing to 1), stacked along the first axis.

    Examples:
        >>> import numpy as np
        >>> from mertk_baselines.lbptop import lbp_top
        >>> volume = np.random.default_rng(0).integers(0, 256, (5, 12, 12), dtype=np.uint8)
        >>> histograms = lbp_top(volume, blocks=2)
        >>> histograms.shape, histograms.dtype
        ((177, 2, 2), dtype('float32'))
    """
    from skimage.feature import local_binary_pattern

    t, h, w = volume.shape
    r = radius
    if min(t, h, w) <= 2 * r:
        from mertk.errors import MertkError

        raise MertkError(f"lbp-top: a clip of {t} frames of {h}x{w} pixels is too small for radius {r}; "
                         "use a smaller radius or a longer clip")

    def code(plane: np.ndarray) -> np.ndarray:
        return local_binary_pattern(plane, points, radius, method)

    xy = np.stack([code(volume[i]) for i in range(t)])
    xt = np.stack([code(volume[:, y]) for y in range(h)], axis=1)
    yt = np.stack([code(volume[:, :, x]) for x in range(w)], axis=2)
    inner = (slice(r, t - r), slice(r, h - r), slice(r, w - r))
    bins = code_count(method, points)
    rows = np.array_split(np.arange(h - 2 * r), blocks)
    cols = np.array_split(np.arange(w - 2 * r), blocks)
    out = np.zeros((3, bins, blocks, blocks), np.float32)
    for p, codes in enumerate((xy, xt, yt)):
        codes = codes[inner].astype(np.int64)
        for i, rr in enumerate(rows):
            for j, cc in enumerate(cols):
                counts = np.bincount(codes[:, rr[0]:rr[-1] + 1, cc[0]:cc[-1] + 1].ravel(), minlength=bins)
                out[p, :, i, j] = counts / max(counts.sum(), 1)
    return out.reshape(3 * bins, blocks, blocks)


class LbpTop:
    """LBP-TOP histogram map of the aligned clip (a ``roi_selector`` reading frames).

    Args:
        size: Side the aligned frames are resized to before coding (anti-aliased bilinear).
        blocks: Cells per side of the spatial grid.
        points: LBP neighbours.
        radius: LBP radius in pixels and frames.
        method: scikit-image LBP variant.

    Shape:
        - Input: ``frames`` ``(T, 1, H, W)`` in ``[0, 1]``, ``landmarks`` ``(68, 2)`` (not used:
          the clip is already aligned and cropped to the face).
        - Output: ``(3 * bins, blocks, blocks)`` float32, ``bins = code_count(method, points)``.

    Examples:
        >>> from mertk_baselines.lbptop import LbpTop
        >>> view = LbpTop(size=16, blocks=2)(torch.rand(5, 1, 32, 32), torch.zeros(68, 2))
        >>> view.shape, view.dtype
        (torch.Size([177, 2, 2]), torch.float32)
    """

    source = "frames"

    def __init__(self, size: Annotated[int, Field(ge=8)] = 64, blocks: PositiveInt = 5, points: PositiveInt = 8,
                 radius: PositiveInt = 1, method: Method = "nri_uniform") -> None:
        self.size, self.blocks, self.points, self.radius, self.method = size, blocks, points, radius, method

    def __call__(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        small = F.interpolate(frames.float(), size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        volume = (small[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        return torch.from_numpy(lbp_top(volume, points=self.points, radius=self.radius, blocks=self.blocks,
                                        method=self.method))
