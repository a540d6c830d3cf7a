"""The config interface of each baseline network, importable without torch, timm or scikit-learn.

Each function's signature is what a config may set (types and ranges checked by
``mertk config check``); calling it builds the module it names (:func:`mertk.deferred.builds`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from mertk.deferred import builds
from mertk.registry import Ref

__all__ = ["conv_pool", "ststnet", "off_apexnet", "dual_inception", "timm_classifier", "linear_svm"]

P = "mertk_baselines"

Backbone = Annotated[Callable[..., Any], Ref("backbone", provided=("in_channels",))]
Dropout = Annotated[float, Field(ge=0, lt=1)]


@builds(f"{P}.two_stream:ConvPoolStream")
def conv_pool(in_channels: int, widths: tuple[PositiveInt, ...] = (6, 16), kernel: PositiveInt = 5) -> Any:
    """Conv -> ReLU -> 2x2 max-pool stages.

    Builds :class:`~mertk_baselines.two_stream.ConvPoolStream`.
    """


@builds(f"{P}.ststnet:STSTNet")
def ststnet(num_classes: int, in_channels: int, view: str = "face", widths: tuple[PositiveInt, ...] = (3, 5, 8),
            stream_input: Literal["all", "per-channel"] = "all", dropout: Dropout = 0.5) -> Any:
    """STSTNet, a shallow triple-stream CNN.

    Builds :class:`~mertk_baselines.ststnet.STSTNet`.
    """


@builds(f"{P}.two_stream:OffApexNet")
def off_apexnet(num_classes: int, in_channels: int, backbone: Backbone = "conv-pool", view: str = "face",
                channels: tuple[NonNegativeInt, NonNegativeInt] = (0, 1), hidden: PositiveInt = 1024,
                dropout: Dropout = 0.5) -> Any:
    """Off-ApexNet: two streams on the u and v flow.

    Builds :class:`~mertk_baselines.two_stream.OffApexNet`.
    """


@builds(f"{P}.two_stream:DualInception")
def dual_inception(num_classes: int, in_channels: int, backbone: Backbone = "inception", view: str = "face",
                   channels: tuple[NonNegativeInt, NonNegativeInt] = (0, 1), hidden: PositiveInt = 1024,
                   dropout: Dropout = 0.5) -> Any:
    """Dual-Inception: two Inception streams on u and v.

    Builds :class:`~mertk_baselines.two_stream.DualInception`.
    """


@builds(f"{P}.timm_classifier:TimmClassifier", forward=("cannot_stack",))
def timm_classifier(num_classes: int, in_channels: int, model_name: str = "resnet18", view: str = "face",
                    drop_rate: Annotated[float, Field(ge=0, lt=1)] = 0.0) -> Any:
    """A whole timm classifier on one view.

    Builds :class:`~mertk_baselines.timm_classifier.TimmClassifier`.
    """


@builds(f"{P}.svm:LinearSVM", forward=("fit",))
def linear_svm(num_classes: int, in_channels: int, view: str = "lbp-top", C: PositiveFloat = 1.0,
               class_weight: str | None = "balanced", max_iter: PositiveInt = 10000) -> Any:
    """Linear SVM on one flattened view.

    Builds :class:`~mertk_baselines.svm.LinearSVM`.
    """
