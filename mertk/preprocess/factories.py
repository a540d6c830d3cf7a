"""The config interface of the preprocessing components that need torch or kornia at import.

Each function's signature is what a config may set (types and ranges checked by
``mertk config check``); calling it builds the object it names (:func:`mertk.deferred.builds`).
The other preprocessing components import OpenCV and torch only when they run.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from mertk.deferred import builds

__all__ = ["torch_tvl1"]


@builds("mertk.preprocess.tvl1:TorchTVL1")
def torch_tvl1(lambda_: PositiveFloat = 0.15, theta: PositiveFloat = 0.3, tau: PositiveFloat = 0.25,
               nscales: PositiveInt = 3, scale_step: Annotated[float, Field(gt=0, lt=1)] = 0.5,
               warps: PositiveInt = 3, outer: PositiveInt = 1, inner: PositiveInt = 20,
               median: NonNegativeInt = 5, threads: PositiveInt = 1) -> Any:
    """Batched TV-L1 optical flow in torch; runs on the input's device.

    Builds :class:`~mertk.preprocess.tvl1.TorchTVL1`.
    """
