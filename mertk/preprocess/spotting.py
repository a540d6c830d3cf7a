"""Apex spotters (component kind ``spotter``): pick the apex of a clip whose annotation has none.

SMIC releases give onset and offset only. A spotter sees the clip's aligned grey frames
``(T, 1, H, W)`` in ``[0, 1]`` and the onset position and returns the apex position. The pipeline
records which apex was used and whether it came from the annotation or a spotter.
"""

from __future__ import annotations

import kornia
import torch

__all__ = ["MaxMotion", "Middle"]


class MaxMotion:
    """The frame that differs most from the onset (mean absolute difference of lightly blurred
    frames, so sensor noise does not win).

    Args:
        sigma: Gaussian blur sigma in pixels before differencing.
    """

    def __init__(self, sigma: float = 1.5) -> None:
        self.sigma = sigma

    def __call__(self, frames: torch.Tensor, onset: int) -> int:
        """``(T, 1, H, W)`` aligned frames, onset position -> apex position (never the onset
        itself unless the clip has one frame)."""
        k = 2 * round(2 * self.sigma) + 1
        smooth = kornia.filters.gaussian_blur2d(frames, (k, k), (self.sigma, self.sigma), border_type="replicate")
        motion = (smooth - smooth[onset]).abs().mean((1, 2, 3))
        if len(frames) > 1:
            motion[onset] = -1
        return int(motion.argmax())


class Middle:
    """The middle frame between the onset and the last frame of the clip (the offset)."""

    def __call__(self, frames: torch.Tensor, onset: int) -> int:
        """``(T, 1, H, W)`` frames, onset position -> ``(onset + T - 1) // 2``."""
        return (onset + len(frames) - 1) // 2
