"""STSTNet: a shallow triple-stream network on the (u, v, strain) flow image (Liong et al., 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from mertk.api import ModelOutput

__all__ = ["STSTNet"]


class STSTNet(nn.Module):
    """Shallow triple-stream 2D CNN.

    Each stream is one 3x3 convolution (``widths`` = 3, 5 and 8 filters) -> BatchNorm -> ReLU
    -> 3x3 max-pooling with stride 3 -> dropout. The streams' maps are concatenated, average-pooled
    2x2 and classified by one fully connected layer. At 28 x 28: ``(B, 3, 28, 28)`` ->
    ``(B, 16, 10, 10)`` -> ``(B, 16, 5, 5)`` -> ``(B, K)``.

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine).
        in_channels: Channels ``C`` of the view (supplied by the engine).
        view: Name of the input view.
        widths: Filters of each stream.
        stream_input: ``"all"``: every stream sees every channel (the authors' code);
            ``"per-channel"``: stream ``i`` sees channel ``i`` only (needs ``C == len(widths)``).
        dropout: Dropout after pooling (the authors' code: 0.5).

    Shape:
        - Input: ``{view: (B, C, S, S)}``.
        - Output: :class:`~mertk.api.ModelOutput` with ``logits (B, K)``, ``features
          {"fused": (B, D)}`` and ``maps {"fused": (B, sum(widths), h, w)}``.

    Examples:
        >>> from mertk_baselines.ststnet import STSTNet
        >>> out = STSTNet(num_classes=3, in_channels=3)({"face": torch.rand(2, 3, 28, 28)})
        >>> out.logits.shape, out.features["fused"].shape, out.maps["fused"].shape
        (torch.Size([2, 3]), torch.Size([2, 400]), torch.Size([2, 16, 5, 5]))
    """

    def __init__(self, num_classes: int, in_channels: int, view: str = "face",
                 widths: tuple[PositiveInt, ...] = (3, 5, 8),
                 stream_input: Literal["all", "per-channel"] = "all",
                 dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5) -> None:
        super().__init__()
        if stream_input == "per-channel" and in_channels != len(widths):
            from mertk.errors import MertkError

            raise MertkError(f"model ststnet: stream_input: per-channel needs one view channel per stream, "
                             f"got {in_channels} channels for {len(widths)} streams; set "
                             "preprocess.encoding.channels to as many channels as model.widths")
        self.views = (view,)
        self.stream_input = stream_input
        cin = 1 if stream_input == "per-channel" else in_channels
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                          nn.MaxPool2d(3, stride=3, padding=1), nn.Dropout(dropout))
            for w in widths
        )
        self.pool = nn.AvgPool2d(2)
        self.classifier = nn.LazyLinear(num_classes)

    def forward(self, views: Mapping[str, torch.Tensor]) -> ModelOutput:
        x = views[self.views[0]]
        inputs = x.split(1, dim=1) if self.stream_input == "per-channel" else [x] * len(self.streams)
        fused = self.pool(torch.cat([s(i) for s, i in zip(self.streams, inputs)], dim=1))
        features = fused.flatten(1)
        return ModelOutput(logits=self.classifier(features), features={"fused": features}, maps={"fused": fused})
