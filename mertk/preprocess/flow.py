"""OpenCV optical-flow extractors (component kind ``flow_extractor``).

Every extractor maps ``first, second: (B, 1, H, W)`` float frames in ``[0, 1]`` to a
``(B, 2, H, W)`` float32 flow ``(u, v)`` in pixels, on the device of the input. OpenCV runs on
the CPU, one pair at a time; :mod:`mertk.preprocess.tvl1` holds a batched torch TV-L1 for GPUs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import Field, PositiveFloat, PositiveInt

if TYPE_CHECKING:
    import torch

__all__ = ["OpenCVFlow", "TVL1", "Farneback", "DIS"]


class OpenCVFlow:
    """Base: runs :meth:`pair` on each ``(H, W)`` float32 pair of the batch.

    Shape:
        - Input: ``first``, ``second`` ``(B, 1, H, W)`` float frames in ``[0, 1]``.
        - Output: ``(B, 2, H, W)`` float32 flow ``(u, v)`` in pixels, on the device of ``first``.

    Examples:
        >>> from mertk.preprocess.flow import Farneback
        >>> flow = Farneback()(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32))
        >>> flow.shape, flow.dtype
        (torch.Size([2, 2, 32, 32]), torch.float32)
    """

    def __call__(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)``, ``(B, 1, H, W)`` in ``[0, 1]`` -> ``(B, 2, H, W)`` flow in pixels."""
        import torch

        a = first[:, 0].detach().cpu().numpy().astype(np.float32)
        b = second[:, 0].detach().cpu().numpy().astype(np.float32)
        flows = np.stack([self.pair(x, y) for x, y in zip(a, b)])
        return torch.from_numpy(flows).permute(0, 3, 1, 2).to(first.device)

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """``(H, W)`` float32 frames in ``[0, 1]`` -> ``(H, W, 2)`` float32 flow."""
        raise NotImplementedError


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)


class TVL1(OpenCVFlow):
    """OpenCV's Dual TV-L1 optical flow (``cv2.optflow.DualTVL1OpticalFlow``), OpenCV's defaults.

    Args:
        tau: Time step of the numerical scheme.
        lambda_: Weight of the data term (smaller: smoother flow).
        theta: Coupling between the data and the smoothness terms.
        nscales: Pyramid levels.
        warps: Warpings per level.
        epsilon: Stopping threshold of the inner iterations.
        inner_iterations: Inner iterations per outer iteration.
        outer_iterations: Outer iterations (each starts with a median filter of the flow).
        scale_step: Pyramid downscaling factor.
        median_filtering: Median filter size applied to the flow.

    Examples:
        >>> from mertk.preprocess.flow import TVL1
        >>> TVL1(nscales=1, warps=1)(torch.rand(1, 1, 24, 24), torch.rand(1, 1, 24, 24)).shape
        torch.Size([1, 2, 24, 24])
    """

    def __init__(self, tau: PositiveFloat = 0.25, lambda_: PositiveFloat = 0.15,
                 theta: PositiveFloat = 0.3, nscales: PositiveInt = 5, warps: PositiveInt = 5,
                 epsilon: PositiveFloat = 0.01, inner_iterations: PositiveInt = 30,
                 outer_iterations: PositiveInt = 10, scale_step: Annotated[float, Field(gt=0, lt=1)] = 0.8,
                 median_filtering: PositiveInt = 5) -> None:
        self.params = dict(tau=tau, lambda_=lambda_, theta=theta, nscales=nscales, warps=warps, epsilon=epsilon,
                           inner_iterations=inner_iterations, outer_iterations=outer_iterations,
                           scale_step=scale_step, median_filtering=median_filtering)
        self._flow = None

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        if self._flow is None:  # created lazily: OpenCV objects do not pickle into workers
            import cv2

            p = self.params
            self._flow = cv2.optflow.DualTVL1OpticalFlow_create(
                tau=p["tau"], lambda_=p["lambda_"], theta=p["theta"], nscales=p["nscales"], warps=p["warps"],
                epsilon=p["epsilon"], innnerIterations=p["inner_iterations"],
                outerIterations=p["outer_iterations"], scaleStep=p["scale_step"],
                medianFiltering=p["median_filtering"])
        return self._flow.calc(first, second, None)

    def __getstate__(self) -> dict:
        return {"params": self.params, "_flow": None}


class Farneback(OpenCVFlow):
    """OpenCV's Farneback polynomial-expansion flow (fast, less accurate than TV-L1).

    Args:
        pyr_scale: Pyramid scale. levels: Pyramid levels. winsize: Averaging window.
        iterations: Iterations per level. poly_n: Pixel neighbourhood of the polynomial fit.
        poly_sigma: Gaussian sigma of the polynomial fit.
    """

    def __init__(self, pyr_scale: Annotated[float, Field(gt=0, lt=1)] = 0.5, levels: PositiveInt = 3,
                 winsize: PositiveInt = 15, iterations: PositiveInt = 3, poly_n: PositiveInt = 5,
                 poly_sigma: PositiveFloat = 1.2) -> None:
        self.args = (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, 0)

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.calcOpticalFlowFarneback(_uint8(first), _uint8(second), None, *self.args)


class DIS(OpenCVFlow):
    """OpenCV's DIS (dense inverse search) flow.

    Args:
        preset: ``ultrafast``, ``fast`` or ``medium``.

    Examples:
        >>> from mertk.preprocess.flow import DIS
        >>> DIS("ultrafast")(torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)).shape
        torch.Size([2, 2, 32, 32])
    """

    def __init__(self, preset: Literal["ultrafast", "fast", "medium"] = "medium") -> None:
        import cv2

        self.preset = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                       "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}[preset]

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.DISOpticalFlow_create(self.preset).calc(_uint8(first), _uint8(second), None)
