"""A whole timm classifier (ResNet-18 by default) on one view, trained from scratch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from mertk.api import ModelOutput

__all__ = ["TimmClassifier"]


class TimmClassifier(nn.Module):
    """Any timm model as a single-view classifier; weights are never downloaded.

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine).
        in_channels: Channels of the view (supplied by the engine).
        model_name: A timm model name (``timm.list_models()``), default ``"resnet18"``.
        view: Name of the input view.
        drop_rate: Dropout before timm's classifier.

    Shape:
        - Input: ``{view: (B, C, S, S)}``.
        - Output: :class:`~mertk.api.ModelOutput` with ``logits (B, K)``, ``features
          {"pooled": (B, D)}`` and ``maps {"last": (B, D, h, w)}``.

    Examples:
        >>> from mertk_baselines.timm_classifier import TimmClassifier
        >>> net = TimmClassifier(num_classes=3, in_channels=2, model_name="test_efficientnet")  # tiny
        >>> out = net({"face": torch.rand(2, 2, 32, 32)})
        >>> out.logits.shape, out.features["pooled"].shape, out.maps["last"].shape
        (torch.Size([2, 3]), torch.Size([2, 256]), torch.Size([2, 256, 1, 1]))
    """

    @staticmethod
    def cannot_stack(arguments: dict) -> str | None:
        """Why it cannot be trained stacked (``train.stack_folds``) with these arguments, if so."""
        if arguments.get("drop_rate"):
            return ("timm applies drop_rate with F.dropout, which draws from the global generator inside the "
                    "network, so stacked folds cannot each get their own dropout masks; use drop_rate: 0")
        return None

    def __init__(self, num_classes: int, in_channels: int, model_name: str = "resnet18", view: str = "face",
                 drop_rate: Annotated[float, Field(ge=0, lt=1)] = 0.0) -> None:
        super().__init__()
        import timm

        if not timm.is_model(model_name):
            from mertk.errors import MertkError, did_you_mean

            raise MertkError(f"model.model_name: unknown timm model {model_name!r}"
                             f"{did_you_mean(model_name, timm.list_models())}; see timm.list_models()")
        self.views = (view,)
        self.net = timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_channels,
                                     drop_rate=drop_rate)

    def forward(self, views: Mapping[str, torch.Tensor]) -> ModelOutput:
        maps = self.net.forward_features(views[self.views[0]])
        pooled = self.net.forward_head(maps, pre_logits=True)
        return ModelOutput(logits=self.net.get_classifier()(pooled), features={"pooled": pooled}, maps={"last": maps})
