"""Frame pairs with a known flow, for testing and benchmarking flow extractors.

The first frame is a real face (``skimage.data.astronaut()``, public domain); the second is the
first warped by a smooth analytic displacement ``g``: ``second(y) = first(y - g(y))``. The true
flow ``u`` (with ``second(x + u) = first(x)``) solves ``u = g(x + u)``, found by fixed-point
iteration, so it is exact up to float error rather than a first-order approximation.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

__all__ = ["face_crop", "displacement", "warped_pair", "end_point_error"]


def face_crop(size: int) -> np.ndarray:
    """The astronaut's face, ``(size, size)`` float32 grey in ``[0, 1]``."""
    import skimage.data

    grey = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)[40:220, 130:310]
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def displacement(x: np.ndarray, y: np.ndarray, size: int, amplitude: float, phase: float = 0.0) -> np.ndarray:
    """Smooth displacement ``g(x, y)``: ``(..., 2)`` pixels, at most ``amplitude`` per axis."""
    k = 2 * math.pi / size
    gx = amplitude * np.sin(k * x + phase) * np.cos(0.7 * k * y)
    gy = amplitude * 0.6 * np.cos(0.8 * k * x) * np.sin(k * y + phase)
    return np.stack([gx, gy], -1)


def warped_pair(size: int = 128, amplitude: float = 1.5,
                phase: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, second, flow)``: ``(H, W)`` float32 frames in ``[0, 1]`` and the ``(H, W, 2)`` true flow.

    Examples:
        >>> from mertk.preprocess.synthetic import warped_pair
        >>> first, second, flow = warped_pair(size=32)
        >>> first.shape, second.shape, flow.shape, flow.dtype
        ((32, 32), (32, 32), (32, 32, 2), dtype('float32'))
    """
    first = face_crop(size)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    g = displacement(xs, ys, size, amplitude, phase)
    second = cv2.remap(first, xs - g[..., 0], ys - g[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    u = g.copy()
    for _ in range(30):
        u = displacement(xs + u[..., 0], ys + u[..., 1], size, amplitude, phase)
    return first, np.clip(second, 0, 1).astype(np.float32), u.astype(np.float32)


def end_point_error(flow: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray, border: int = 8) -> float:
    """Mean Euclidean distance between ``(2, H, W)``/``(H, W, 2)`` flows, ignoring a ``border`` frame.

    Examples:
        >>> from mertk.preprocess.synthetic import end_point_error
        >>> flow = torch.rand(2, 32, 32)
        >>> end_point_error(flow, flow.permute(1, 2, 0))  # the same flow, channels first and last
        0.0
    """
    f, t = (np.asarray(a.cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64) for a in (flow, truth))
    f = f if f.shape[-1] == 2 else np.moveaxis(f, 0, -1)
    t = t if t.shape[-1] == 2 else np.moveaxis(t, 0, -1)
    sl = slice(border, -border) if border else slice(None)
    return float(np.linalg.norm(f[sl, sl] - t[sl, sl], axis=-1).mean())
