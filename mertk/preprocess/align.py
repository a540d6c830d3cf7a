"""Face alignment: one similarity transform per clip, applied to every frame with kornia.

The transform is found from the 68 landmarks of the detection frame: rotate about the face so
the eye line is horizontal, then scale and shift so that the landmark box plus ``margin`` on each
side fills a ``size x size`` square. Every frame of the clip is warped with the same matrix (a
batched :func:`kornia.geometry.transform.warp_affine`), so the optical flow between aligned frames
measures facial motion, not alignment jitter; the landmarks are moved into the aligned frame too.
"""

from __future__ import annotations

import math

import kornia
import torch

__all__ = ["alignment_matrix", "warp_frames", "transform_points"]

RIGHT_EYE = slice(36, 42)  # subject's right eye, on the image's left (iBUG 300-W order)
LEFT_EYE = slice(42, 48)


def alignment_matrix(landmarks: torch.Tensor, size: int, margin: float = 0.15, rotate: bool = True) -> torch.Tensor:
    """The ``(2, 3)`` affine matrix taking source pixels to aligned-face pixels.

    Args:
        landmarks: ``(68, 2)`` ``(x, y)`` landmarks in source pixels.
        size: Side of the aligned square.
        margin: Border added on each side of the landmark box, as a fraction of its side.
        rotate: Level the eye line (else only scale and shift).

    Returns:
        ``(2, 3)`` float32 matrix ``M`` with ``aligned = M @ [x, y, 1]``.

    Examples:
        >>> from mertk.preprocess.align import alignment_matrix
        >>> from mertk.preprocess.template import template_landmarks
        >>> matrix = alignment_matrix(template_landmarks(64), size=28)
        >>> matrix.shape, matrix.dtype
        (torch.Size([2, 3]), torch.float32)
    """
    lm = landmarks.to(torch.float64)
    if rotate:
        d = lm[LEFT_EYE].mean(0) - lm[RIGHT_EYE].mean(0)
        angle = math.atan2(float(d[1]), float(d[0]))
    else:
        angle = 0.0
    cos, sin = math.cos(-angle), math.sin(-angle)
    rot = lm.new_tensor([[cos, -sin], [sin, cos]])
    turned = lm @ rot.T
    low, high = turned.min(0).values, turned.max(0).values
    side = float((high - low).max()) * (1 + 2 * margin)
    scale = size / max(side, 1e-6)
    centre = (low + high) / 2
    shift = (size - 1) / 2 - scale * centre
    return torch.cat([scale * rot, shift[:, None]], 1).to(torch.float32)


def warp_frames(frames: torch.Tensor, matrix: torch.Tensor, size: int) -> torch.Tensor:
    """Warp all frames of a clip with one matrix, anti-aliased when shrinking.

    Args:
        frames: ``(T, C, H, W)`` float frames (any device).
        matrix: ``(2, 3)`` matrix from :func:`alignment_matrix`.
        size: Output side ``S``.

    Returns:
        ``(T, C, S, S)`` aligned frames; outside the source the border pixels are repeated.

    Examples:
        >>> from mertk.preprocess.align import alignment_matrix, warp_frames
        >>> from mertk.preprocess.template import template_landmarks
        >>> matrix = alignment_matrix(template_landmarks(64), size=28)
        >>> warp_frames(torch.rand(5, 1, 64, 64), matrix, size=28).shape
        torch.Size([5, 1, 28, 28])
    """
    matrix = matrix.to(frames)
    scale = float(torch.linalg.det(matrix[:, :2]).abs().sqrt())
    if scale < 1:  # blur before shrinking, sigma ~ half the pixel-size ratio
        sigma = 0.5 / scale
        k = 2 * math.ceil(2 * sigma) + 1
        frames = kornia.filters.gaussian_blur2d(frames, (k, k), (sigma, sigma), border_type="replicate")
    return kornia.geometry.transform.warp_affine(
        frames, matrix.expand(frames.shape[0], 2, 3), (size, size), mode="bilinear",
        padding_mode="border", align_corners=True)


def transform_points(points: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a ``(2, 3)`` matrix to ``(N, 2)`` points.

    Shape:
        - Input: ``points`` ``(N, 2)``, ``matrix`` ``(2, 3)``.
        - Output: ``(N, 2)``, in the dtype of ``points``.

    Examples:
        >>> from mertk.preprocess.align import transform_points
        >>> shift = torch.tensor([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]])
        >>> transform_points(torch.tensor([[0.0, 0.0], [10.0, 20.0]]), shift)
        tensor([[ 3., -2.],
                [13., 18.]])
    """
    matrix = matrix.to(points)
    return points @ matrix[:, :2].T + matrix[:, 2]
