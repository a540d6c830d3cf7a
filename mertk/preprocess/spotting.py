"""Apex spotters (component kind ``apex_spotter``): pick the apex of a clip whose annotation has none.

SMIC releases give onset and offset only. A spotter sees the clip's aligned grey frames
``(T, 1, H, W)`` in ``[0, 1]`` and the onset position and returns the apex position. The pipeline
records which apex was used and whether it came from the annotation or a spotter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import NonNegativeFloat

if TYPE_CHECKING:
    import torch

__all__ = ["MaxMotion", "Middle", "motion_scores"]


class MaxMotion:
    """The frame that moved most since the onset, measured by dense optical flow.

    Each frame's Farneback flow from the onset (on lightly blurred, contrast-stretched frames)
    is reduced to one score, the mean flow magnitude over the inner image. Head movement drifts
    over a clip and would otherwise make the last frame "move most": with ``compensate_shift``
    the median flow vector (the global translation, which a local facial movement cannot
    shift) is subtracted first, so what remains is facial motion. Estimating that translation
    from the flow's median, rather than registering whole frames and differencing them, keeps
    sub-pixel registration errors from outweighing a micro-expression.

    Args:
        sigma: Gaussian blur sigma in pixels before the flow (suppresses sensor noise).
        compensate_shift: Remove each frame's global translation against the onset first.

    Shape:
        - Input: ``frames`` ``(T, 1, H, W)`` aligned grey frames in ``[0, 1]``, ``onset`` position.
        - Output: the apex position, an ``int`` in ``[0, T)``.

    Examples:
        >>> from mertk.preprocess.spotting import MaxMotion
        >>> apex = MaxMotion()(torch.rand(6, 1, 32, 32), onset=0)
        >>> 0 < apex < 6
        True
    """

    def __init__(self, sigma: NonNegativeFloat = 1.5, compensate_shift: bool = True) -> None:
        self.sigma = sigma
        self.compensate_shift = compensate_shift

    def __call__(self, frames: torch.Tensor, onset: int) -> int:
        """``(T, 1, H, W)`` aligned frames, onset position -> apex position (never the onset
        itself unless the clip has one frame)."""
        import torch

        if len(frames) == 1:
            return 0
        motion = torch.tensor(motion_scores(frames, onset, self.sigma, self.compensate_shift))
        motion[onset] = -1
        return int(motion.argmax())


def motion_scores(frames: torch.Tensor, onset: int, sigma: float = 1.5, compensate_shift: bool = True) -> list[float]:
    """Per frame of ``(T, 1, H, W)`` frames: mean magnitude (px) of its flow from ``frames[onset]``
    over the inner image, less the median flow vector when ``compensate_shift``.

    Examples:
        >>> from mertk.preprocess.spotting import motion_scores
        >>> len(motion_scores(torch.rand(6, 1, 32, 32), onset=0))
        6
    """
    import cv2
    import numpy as np

    grey = frames[:, 0].float().cpu().numpy()
    if sigma > 0:
        grey = np.stack([cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE) for f in grey])
    low, high = np.quantile(grey, [0.001, 0.999])
    images = np.clip((grey - low) / max(high - low, 1e-6) * 255, 0, 255).round().astype(np.uint8)
    margin = max(2, images.shape[-1] // 16)  # borders are filled in by the motion, not observed
    scores = []
    for image in images:
        flow = cv2.calcOpticalFlowFarneback(images[onset], image, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        flow = flow[margin:-margin, margin:-margin].reshape(-1, 2)
        if compensate_shift:
            flow = flow - np.median(flow, axis=0)
        scores.append(float(np.linalg.norm(flow, axis=1).mean()))
    return scores


class Middle:
    """The middle frame between the onset and the last frame of the clip (the offset).

    Examples:
        >>> from mertk.preprocess.spotting import Middle
        >>> Middle()(torch.zeros(9, 1, 8, 8), onset=2)
        5
    """

    def __call__(self, frames: torch.Tensor, onset: int) -> int:
        """``(T, 1, H, W)`` frames, onset position -> ``(onset + T - 1) // 2``."""
        return (onset + len(frames) - 1) // 2
