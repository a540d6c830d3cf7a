"""Apex spotters (component kind ``spotter``): pick the apex of a clip whose annotation has none.

SMIC releases give onset and offset only. A spotter sees the clip's aligned grey frames
``(T, 1, H, W)`` in ``[0, 1]`` and the onset position and returns the apex position. The pipeline
records which apex was used and whether it came from the annotation or a spotter.
"""

from __future__ import annotations

import torch

__all__ = ["MaxMotion", "Middle"]


class MaxMotion:
    """The frame that differs most from the onset (mean absolute difference of lightly blurred
    frames, so sensor noise does not win).

    Head movement drifts over a clip and would otherwise make the last frame "move most": with
    ``compensate_shift`` each frame is first shifted back onto the onset by the global
    translation that phase correlation finds, so what remains is facial motion.

    Args:
        sigma: Gaussian blur sigma in pixels before differencing.
        compensate_shift: Remove each frame's global translation against the onset first.
    """

    def __init__(self, sigma: float = 1.5, compensate_shift: bool = True) -> None:
        self.sigma = sigma
        self.compensate_shift = compensate_shift

    def __call__(self, frames: torch.Tensor, onset: int) -> int:
        """``(T, 1, H, W)`` aligned frames, onset position -> apex position (never the onset
        itself unless the clip has one frame)."""
        import kornia  # here, not at the top: config checks import this module for its signature

        k = 2 * round(2 * self.sigma) + 1
        smooth = kornia.filters.gaussian_blur2d(frames, (k, k), (self.sigma, self.sigma), border_type="replicate")
        if self.compensate_shift:
            smooth = _undo_shifts(smooth, onset)
        margin = max(2, smooth.shape[-1] // 16)  # borders are filled by the shift, not observed
        inner = smooth[..., margin:-margin, margin:-margin]
        motion = (inner - inner[onset]).abs().mean((1, 2, 3))
        if len(frames) > 1:
            motion[onset] = -1
        return int(motion.argmax())


def _undo_shifts(frames: torch.Tensor, reference: int) -> torch.Tensor:
    """``(T, 1, H, W)`` frames translated back onto ``frames[reference]`` (phase correlation)."""
    import cv2
    import kornia

    ref = frames[reference, 0].double().cpu().numpy()
    window = cv2.createHanningWindow(ref.shape[::-1], cv2.CV_64F)
    shifts = torch.tensor([cv2.phaseCorrelate(ref, f[0].double().cpu().numpy(), window)[0] for f in frames],
                          dtype=frames.dtype, device=frames.device)  # (T, 2) as (dx, dy)
    return kornia.geometry.transform.translate(frames, -shifts, padding_mode="border", align_corners=True)


class Middle:
    """The middle frame between the onset and the last frame of the clip (the offset)."""

    def __call__(self, frames: torch.Tensor, onset: int) -> int:
        """``(T, 1, H, W)`` frames, onset position -> ``(onset + T - 1) // 2``."""
        return (onset + len(frames) - 1) // 2
