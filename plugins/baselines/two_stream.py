"""Two-stream networks on the horizontal and vertical flow: Off-ApexNet and Dual-Inception.

Both split the flow view into its ``u`` and ``v`` channels, run one backbone per channel,
concatenate the flattened maps and classify with ``FC(hidden) -> ReLU -> Dropout -> FC(K)``.
They differ only in the stream backbone: two conv-pool stages (Off-ApexNet, Gan et al. 2019)
or two Inception blocks (Dual-Inception, Zhou et al. 2019).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

import torch
from pydantic import Field, NonNegativeInt, PositiveInt
from torch import nn

from mertk.api import ModelOutput
from mertk.registry import Ref

__all__ = ["ConvPoolStream", "TwoStreamNet", "OffApexNet", "DualInception"]

Backbone = Annotated[Callable[..., nn.Module], Ref("backbone", provided=("in_channels",))]


class ConvPoolStream(nn.Module):
    """Conv -> ReLU -> 2x2 max-pool, once per width (Off-ApexNet's stream).

    With the defaults ``(B, 1, 28, 28)`` -> ``(B, 6, 14, 14)`` -> ``(B, 16, 7, 7)``.

    Args:
        in_channels: Input channels (supplied by the model).
        widths: Filters of each stage.
        kernel: Convolution kernel side ('same' padding).

    Attributes:
        out_channels: ``widths[-1]``.

    Shape:
        - Input: ``(B, in_channels, H, W)``.
        - Output: ``(B, out_channels, H // 2**n, W // 2**n)``, ``n = len(widths)``.

    Examples:
        >>> from mertk_baselines.two_stream import ConvPoolStream
        >>> ConvPoolStream(in_channels=1)(torch.rand(2, 1, 28, 28)).shape
        torch.Size([2, 16, 7, 7])
    """

    def __init__(self, in_channels: int, widths: tuple[PositiveInt, ...] = (6, 16),
                 kernel: PositiveInt = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Conv2d(in_channels, width, kernel, padding=kernel // 2), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            in_channels = width
        self.layers = nn.Sequential(*layers)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, out_channels, H / 2**n, W / 2**n)``."""
        return self.layers(x)


class TwoStreamNet(nn.Module):
    """One backbone per flow component, late fusion by concatenation.

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine).
        in_channels: Channels of the view (supplied by the engine); must cover ``channels``.
        backbone: Stream backbone spec, built once per stream with ``in_channels=1``.
        view: Name of the input view.
        channels: Indices in the view of the ``(u, v)`` channels (``[u, v, strain]`` -> ``(0, 1)``).
        hidden: Width of the fusion layer.
        dropout: Dropout before the last layer.

    Shape:
        - Input: ``{view: (B, C, S, S)}``.
        - Output: :class:`~mertk.api.ModelOutput` with ``logits (B, K)``, ``features {"u": (B, D),
          "v": (B, D)}`` and ``maps {"u": ..., "v": ...}`` ``(B, C', h, w)``.

    Examples:
        >>> from mertk_baselines.two_stream import ConvPoolStream, TwoStreamNet
        >>> net = TwoStreamNet(num_classes=3, in_channels=3, backbone=ConvPoolStream, hidden=32)
        >>> out = net({"face": torch.rand(2, 3, 28, 28)})
        >>> out.logits.shape, out.features["u"].shape, out.maps["v"].shape
        (torch.Size([2, 3]), torch.Size([2, 784]), torch.Size([2, 16, 7, 7]))
    """

    def __init__(self, num_classes: int, in_channels: int, backbone: Backbone, view: str = "face",
                 channels: tuple[NonNegativeInt, NonNegativeInt] = (0, 1), hidden: PositiveInt = 1024,
                 dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5) -> None:
        super().__init__()
        if max(channels) >= in_channels:
            from mertk.errors import MertkError

            raise MertkError(f"model.channels: {list(channels)} but the view has {in_channels} channels; "
                             "set model.channels to the positions of u and v in preprocess.encoding.channels")
        self.views = (view,)
        self.channels = tuple(channels)
        self.streams = nn.ModuleList(backbone(in_channels=1) for _ in self.channels)
        self.head = nn.Sequential(nn.LazyLinear(hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, num_classes))

    def forward(self, views: Mapping[str, torch.Tensor]) -> ModelOutput:
        x = views[self.views[0]]
        maps = {name: stream(x[:, c:c + 1]) for name, c, stream in zip("uv", self.channels, self.streams)}
        features = {name: m.flatten(1) for name, m in maps.items()}
        return ModelOutput(logits=self.head(torch.cat(list(features.values()), dim=1)), features=features, maps=maps)


class OffApexNet(TwoStreamNet):
    """Off-ApexNet: two conv-pool streams on the onset -> apex ``u`` and ``v`` flow (Gan et al., 2019).

    Same arguments as :class:`TwoStreamNet`; the default stream is ``conv-pool`` (5x5 convs with
    6 and 16 filters, each followed by 2x2 max-pooling).

    Examples:
        >>> import mertk
        >>> net = mertk.load_components().create("model", "off-apexnet", num_classes=3, in_channels=3)
        >>> net({"face": torch.rand(2, 3, 28, 28)}).logits.shape
        torch.Size([2, 3])
    """

    def __init__(self, num_classes: int, in_channels: int, backbone: Backbone = "conv-pool", view: str = "face",
                 channels: tuple[NonNegativeInt, NonNegativeInt] = (0, 1), hidden: PositiveInt = 1024,
                 dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5) -> None:
        super().__init__(num_classes, in_channels, backbone, view, channels, hidden, dropout)


class DualInception(TwoStreamNet):
    """Dual-Inception: two Inception streams on the ``u`` and ``v`` flow (Zhou et al., 2019).

    Same arguments as :class:`TwoStreamNet`; the default stream is ``inception`` (two Inception
    blocks with 2x2 pooling, registered by the Dual-ATME plug-in set).

    Examples:
        >>> import mertk
        >>> net = mertk.load_components().create("model", "dual-inception", num_classes=3, in_channels=3)
        >>> out = net({"face": torch.rand(2, 3, 28, 28)})
        >>> out.logits.shape, out.maps["u"].shape
        (torch.Size([2, 3]), torch.Size([2, 48, 7, 7]))
    """

    def __init__(self, num_classes: int, in_channels: int, backbone: Backbone = "inception", view: str = "face",
                 channels: tuple[NonNegativeInt, NonNegativeInt] = (0, 1), hidden: PositiveInt = 1024,
                 dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5) -> None:
        super().__init__(num_classes, in_channels, backbone, view, channels, hidden, dropout)
