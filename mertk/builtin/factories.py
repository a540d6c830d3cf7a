"""The config interface of each built-in torch component, importable without torch or timm.

Each function's signature is what a config may set (types and ranges checked by
``mertk config check``); calling it builds the module it names (:func:`mertk.deferred.builds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field, NonNegativeFloat, PositiveInt

from mertk.deferred import builds

__all__ = ["cross_entropy", "weighted_cross_entropy", "multilabel_bce", "multilabel_focal", "timm", "identity",
           "squeeze_excite"]

P = "mertk.builtin"


@builds(f"{P}.losses:CrossEntropy")
def cross_entropy(label_smoothing: Annotated[float, Field(ge=0, le=1)] = 0.0) -> Any:
    """Cross-entropy on ``output.logits`` ``(B, K)``, averaged over the batch.

    Builds :class:`~mertk.builtin.losses.CrossEntropy`.
    """


@builds(f"{P}.losses:WeightedCrossEntropy")
def weighted_cross_entropy(num_classes: int | None = None, class_counts: Sequence[int] | None = None,
                           weights: list[NonNegativeFloat] | None = None) -> Any:
    """Class-weighted cross-entropy.

    Builds :class:`~mertk.builtin.losses.WeightedCrossEntropy`.
    """


def _multi_label(factory: Any) -> Any:
    """Mark a loss factory as taking ``(B, K)`` multi-label targets (:class:`mertk.api.LossTargets`)."""
    factory.targets = "multi-label"
    return factory


@_multi_label
@builds(f"{P}.losses:MultiLabelBCE")
def multilabel_bce(num_classes: int | None = None, class_counts: Sequence[int] | None = None,
                   num_samples: int | None = None, weighted: bool = True,
                   pos_weights: list[NonNegativeFloat] | None = None) -> Any:
    """Binary cross-entropy per action unit, positives weighted by the training fold's negatives / positives.

    Builds :class:`~mertk.builtin.losses.MultiLabelBCE`.
    """


@_multi_label
@builds(f"{P}.losses:MultiLabelFocal")
def multilabel_focal(gamma: NonNegativeFloat = 2.0, alpha: Annotated[float, Field(ge=0, le=1)] | None = None) -> Any:
    """Focal loss per action unit (sigmoid), optionally weighting positives by ``alpha``.

    Builds :class:`~mertk.builtin.losses.MultiLabelFocal`.
    """


@builds(f"{P}.backbones:TimmBackbone", forward=("cannot_stack", "check_arguments"))
def timm(in_channels: int, model_name: str, kwargs: dict[str, Any] | None = None) -> Any:
    """Any timm model's feature extractor, randomly initialised.

    Builds :class:`~mertk.builtin.backbones.TimmBackbone`.
    """


@builds(f"{P}.attention:identity")
def identity(channels: int) -> Any:
    """No re-weighting (an ablation baseline): returns its input unchanged."""


@builds(f"{P}.attention:squeeze_excite")
def squeeze_excite(channels: int, reduction: PositiveInt = 16) -> Any:
    """Squeeze-and-excitation channel attention (timm's ``SEModule``)."""
