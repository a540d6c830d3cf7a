"""The Dual-ATME network: two branches (whole face, HARS puzzle), attention, fused classifier."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Literal

import torch
from torch import nn

from mertk.api import ModelOutput
from mertk.registry import Ref

__all__ = ["DualATME"]


class DualATME(nn.Module):
    """Dual-branch attention network (Zhou et al., Entropy 2023).

    The first view (whole-face flow) goes through the *upper* branch, the second (HARS
    puzzle) through the *lower* branch; each branch is its own ``backbone``. Attention (AARS,
    CBAM by default) re-weights the upper branch's maps, or both branches'. The two maps are
    flattened, concatenated and classified by ``FC(hidden) -> BatchNorm1d -> ReLU -> Dropout
    -> FC(num_classes)``. The first FC is lazy: its input size is fixed by the first forward,
    so any backbone (e.g. ``{name: timm, model_name: resnet18}``) works; the engine runs one
    forward pass before creating the optimizer.

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine).
        in_channels: Channels ``C`` of each view (supplied by the engine).
        backbone: Backbone spec; built once per branch with ``in_channels``.
        attention: Attention spec built with ``channels`` = the backbone's ``out_channels``;
            ``None`` for no attention.
        views: Names of the ``(upper, lower)`` input views.
        attention_on: ``"upper"`` (paper) or ``"both"`` branches (authors' code).
        share_attention: Use one attention instance for both branches (authors' code) instead
            of one per branch; only matters with ``attention_on: both``.
        branches: ``"both"`` (the method), or one branch alone for the paper's module ablation:
            ``"upper"`` (whole face with attention: "AARS only"), ``"lower"`` (HARS puzzle:
            "HARS only"). A single branch has one feature vector, so drop the similarity loss.
        hidden: Width of the fusion layer (paper: 1024).
        dropout: Dropout before the last layer (paper: 0.5).

    Forward:
        ``views``: ``{views[0]: (B, C, S, S), views[1]: (B, C, S', S')}``.
        Returns :class:`~mertk.api.ModelOutput` with ``logits`` ``(B, K)``, ``features``
        ``{"upper": (B, D1), "lower": (B, D2)}`` (flattened branch maps after attention, for
        the similarity loss) and ``maps`` ``{"upper": (B, C', h, w), "lower": ...}`` (last
        convolutional maps, for Grad-CAM) plus ``"upper_attention"`` / ``"lower_attention"``
        ``(B, 1, h, w)`` when the attention module exposes a ``spatial_map``.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        backbone: Annotated[Callable[..., nn.Module], Ref("backbone", provided=("in_channels",))] = "inception",
        attention: Annotated[Callable[..., nn.Module] | None, Ref("attention", provided=("channels",))] = "cbam",
        views: tuple[str, str] = ("face", "hars"),
        attention_on: Literal["upper", "both"] = "upper",
        share_attention: bool = False,
        branches: Literal["both", "upper", "lower"] = "both",
        hidden: int = 1024,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.views = tuple(views)
        self.branches = branches
        self.upper = backbone(in_channels=in_channels) if branches != "lower" else None
        self.lower = backbone(in_channels=in_channels) if branches != "upper" else None
        self.upper_attention: nn.Module | None = None
        self.lower_attention: nn.Module | None = None
        if attention is not None:
            if self.upper is not None:
                self.upper_attention = attention(channels=self.upper.out_channels)
            if self.lower is not None and attention_on == "both":
                self.lower_attention = (self.upper_attention if share_attention and self.upper_attention is not None
                                        else attention(channels=self.lower.out_channels))
        self.head = nn.Sequential(
            nn.LazyLinear(hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    @property
    def map_views(self) -> dict[str, str]:
        """The input view each ``ModelOutput.maps`` entry comes from (for ``mertk explain``)."""
        return {f"{branch}{suffix}": view for branch, view in zip(("upper", "lower"), self.views)
                for suffix in ("", "_attention")}

    def forward(self, views: Mapping[str, torch.Tensor]) -> ModelOutput:
        maps: dict[str, torch.Tensor] = {}
        features: dict[str, torch.Tensor] = {}
        for name, view_name, branch, attention in (("upper", self.views[0], self.upper, self.upper_attention),
                                                   ("lower", self.views[1], self.lower, self.lower_attention)):
            if branch is None:
                continue
            x = branch(views[view_name])
            if attention is not None:
                x = attention(x)
                weights = getattr(attention, "spatial_map", None)
                if weights is not None:
                    maps[f"{name}_attention"] = weights
            maps[name] = x
            features[name] = x.flatten(1)
        logits = self.head(torch.cat(list(features.values()), dim=1))
        return ModelOutput(logits=logits, features=features, maps=maps)
