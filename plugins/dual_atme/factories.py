"""The config interface of each Dual-ATME component, importable without torch.

Each function's signature is what a config may set (types and ranges checked by
``mertk config check``); calling it builds the torch module it names (:func:`mertk.deferred.builds`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveInt

from mertk.deferred import builds
from mertk.registry import Ref

__all__ = ["inception", "cbam", "focal", "similarity", "dual_atme"]

P = "mertk_dual_atme"


@builds(f"{P}.inception:InceptionBranch")
def inception(in_channels: int, widths: tuple[PositiveInt, ...] = (6, 12), reduce: PositiveInt = 6,
              _groups: int = 1) -> Any:
    """Dual-ATME Inception branch.

    Builds :class:`~mertk_dual_atme.inception.InceptionBranch`.
    """


@builds(f"{P}.cbam:CBAM")
def cbam(channels: int, reduction: PositiveInt = 16, kernel_size: PositiveInt = 3) -> Any:
    """CBAM channel + spatial attention.

    Builds :class:`~mertk_dual_atme.cbam.CBAM`.
    """


@builds(f"{P}.losses:FocalLoss")
def focal(gamma: NonNegativeFloat = 2.0, alpha: NonNegativeFloat | list[NonNegativeFloat] = 1.0) -> Any:
    """Focal loss on the logits.

    Builds :class:`~mertk_dual_atme.losses.FocalLoss`.
    """


@builds(f"{P}.losses:SimilarityLoss")
def similarity(features: tuple[str, str] = ("upper", "lower")) -> Any:
    """Mean 1 - cosine similarity between two feature vectors.

    Builds :class:`~mertk_dual_atme.losses.SimilarityLoss`.
    """


similarity.targets = "any"  # type: ignore[attr-defined]  # reads features, not the target: any task


@builds(f"{P}.model:DualATME")
def dual_atme(
    num_classes: int,
    in_channels: int,
    backbone: Annotated[Callable[..., Any], Ref("backbone", provided=("in_channels",))] = "inception",
    attention: Annotated[Callable[..., Any] | None, Ref("attention", provided=("channels",))] = "cbam",
    views: tuple[str, str] = ("face", "hars"),
    attention_on: Literal["upper", "both"] = "upper",
    share_attention: bool = False,
    branches: Literal["both", "upper", "lower"] = "both",
    hidden: PositiveInt = 1024,
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5,
    fused_branches: bool = True,
) -> Any:
    """Dual-ATME: face and HARS branches, attention, fused classifier.

    Builds :class:`~mertk_dual_atme.model.DualATME`.
    """
