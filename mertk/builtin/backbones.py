"""Backbones from timm, without downloads: ``(B, in_channels, H, W) -> (B, out_channels, h, w)``."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TimmBackbone"]


class TimmBackbone(nn.Module):
    """Any timm model's feature extractor (``forward_features``), randomly initialised.

    Weights are never downloaded (``pretrained=False`` always): mertk runs offline.

    Args:
        in_channels: Channels of the input view (supplied by the model).
        model_name: A timm model name, e.g. ``"resnet18"``, ``"mobilenetv3_small_050"``.
        kwargs: Extra keyword arguments for ``timm.create_model`` (e.g. ``drop_rate``).

    Attributes:
        out_channels: Channels of the feature map (timm's ``num_features``).

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, out_channels, h, w)``, ``h`` and ``w`` as the timm model reduces ``H`` and ``W``.

    Examples:
        >>> from mertk.builtin.backbones import TimmBackbone
        >>> backbone = TimmBackbone(in_channels=2, model_name="test_efficientnet")  # a tiny timm model
        >>> backbone.out_channels, backbone(torch.rand(2, 2, 32, 32)).shape
        (256, torch.Size([2, 256, 1, 1]))
    """

    @staticmethod
    def cannot_stack(arguments: dict) -> str | None:
        """Why it cannot be trained stacked (``train.stack_folds``) with these arguments, if so."""
        random = sorted(k for k, v in (arguments.get("kwargs") or {}).items() if k.startswith("drop") and v)
        if random:
            return (f"timm's {', '.join(random)} draw from the global generator inside the network (F.dropout, "
                    "drop path), so stacked folds cannot each get their own random draws; leave them at 0")
        return None

    def __init__(self, in_channels: int, model_name: str,
                 kwargs: dict[str, float | int | str | bool] | None = None) -> None:
        super().__init__()
        import timm

        if not timm.is_model(model_name):
            from mertk.errors import MertkError, did_you_mean

            raise MertkError(f"backbone timm: unknown model_name {model_name!r}"
                             f"{did_you_mean(model_name, timm.list_models())}; see timm.list_models()")
        self.model = timm.create_model(model_name, pretrained=False, in_chans=in_channels, num_classes=0,
                                       global_pool="", **(kwargs or {}))
        self.out_channels = int(self.model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)
