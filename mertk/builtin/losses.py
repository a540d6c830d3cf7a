"""Generic losses: ``forward(output: ModelOutput, target) -> scalar``, for class targets ``(B,)``
int64 (cross-entropy) or multi-label targets ``(B, K)`` float in ``{0, 1}`` (action units)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat
from torch import nn

from mertk.api import ModelOutput

__all__ = ["CrossEntropy", "WeightedCrossEntropy", "MultiLabelBCE", "MultiLabelFocal", "positive_weights"]


class CrossEntropy(nn.Module):
    """Cross-entropy on ``output.logits`` ``(B, K)``, averaged over the batch.

    Args:
        label_smoothing: Amount of label smoothing in ``[0, 1)``.

    Shape:
        - Input: ``output.logits`` ``(B, K)``, ``target`` ``(B,)`` int64.
        - Output: ``()``.

    Examples:
        >>> from mertk.api import ModelOutput
        >>> from mertk.builtin.losses import CrossEntropy
        >>> output = ModelOutput(logits=torch.randn(4, 3))
        >>> loss = CrossEntropy(label_smoothing=0.1)(output, torch.tensor([0, 2, 1, 0]))
        >>> loss.shape, loss.dtype
        (torch.Size([]), torch.float32)
    """

    def __init__(self, label_smoothing: Annotated[float, Field(ge=0, le=1)] = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.logits, target, label_smoothing=self.label_smoothing)


class WeightedCrossEntropy(nn.Module):
    """Class-weighted cross-entropy (weighted mean over the batch, as in ``F.cross_entropy``).

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine), to check ``weights``.
        class_counts: Samples per class ``(K,)`` in the training fold (supplied by the engine);
            gives inverse-frequency weights ``n / (K * count_k)`` when ``weights`` is not given.
        weights: Explicit ``K`` class weights; overrides ``class_counts``.

    Shape:
        - Input: ``output.logits`` ``(B, K)``, ``target`` ``(B,)`` int64.
        - Output: ``()``.

    Examples:
        >>> from mertk.api import ModelOutput
        >>> from mertk.builtin.losses import WeightedCrossEntropy
        >>> loss = WeightedCrossEntropy(num_classes=4, class_counts=[1, 1, 2, 4])
        >>> loss.weights  # n / (K * count_k): 8 / (4 * count_k)
        tensor([2.0000, 2.0000, 1.0000, 0.5000])
        >>> loss(ModelOutput(logits=torch.randn(4, 4)), torch.tensor([0, 3, 1, 3])).shape
        torch.Size([])
    """

    def __init__(self, num_classes: int | None = None, class_counts: Sequence[int] | None = None,
                 weights: list[NonNegativeFloat] | None = None) -> None:
        super().__init__()
        if weights is not None:
            if num_classes is not None and len(weights) != num_classes:
                raise ValueError(f"weighted-cross-entropy: {len(weights)} weights for {num_classes} classes")
            w = torch.tensor(weights, dtype=torch.float32)
        elif class_counts is not None:
            counts = torch.tensor(list(class_counts), dtype=torch.float32).clamp(min=1)
            w = counts.sum() / (len(counts) * counts)
        else:
            raise ValueError("weighted-cross-entropy needs `weights` (one per class) or the training class counts")
        self.register_buffer("weights", w)

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.logits, target, weight=self.weights)


def positive_weights(positives: Sequence[int], num_samples: int) -> torch.Tensor:
    """Per-output positive weights ``(K,)``: ``negatives / positives`` in the training fold, so an
    output's positives weigh as much as its negatives (an output without positives gets 1).

    Examples:
        >>> positive_weights([1, 4, 0], num_samples=5).tolist()
        [4.0, 0.25, 1.0]
    """
    pos = torch.tensor(list(positives), dtype=torch.float32)
    neg = float(num_samples) - pos
    return torch.where(pos > 0, neg / pos.clamp(min=1), torch.ones_like(pos))


class MultiLabelBCE(nn.Module):
    """Binary cross-entropy per output (action unit), averaged over outputs and the batch.

    With ``weighted`` (the default) each output's positive term is weighted by
    :func:`positive_weights` of the training fold (``negatives / positives``, from the
    engine-supplied ``class_counts`` = positives per output and ``num_samples``), so a rare AU is
    not learnt as "always absent"; ``pos_weights`` gives them explicitly instead.

    Args:
        num_classes: Number of outputs ``K`` (supplied by the engine), to check ``pos_weights``.
        class_counts: Positives per output ``(K,)`` in the training fold (supplied by the engine).
        num_samples: Training-fold size (supplied by the engine).
        weighted: Weight positives by ``negatives / positives``; ``false``: plain BCE.
        pos_weights: Explicit ``K`` positive weights; overrides ``weighted``.

    Shape:
        - Input: ``output.logits`` ``(B, K)``, ``target`` ``(B, K)`` float in ``{0, 1}``.
        - Output: ``()``.

    Examples:
        >>> from mertk.api import ModelOutput
        >>> loss = MultiLabelBCE(num_classes=2, class_counts=[1, 3], num_samples=4)
        >>> loss.pos_weight.tolist()
        [3.0, 0.3333333432674408]
        >>> loss(ModelOutput(logits=torch.zeros(2, 2)), torch.tensor([[1.0, 0.0], [0.0, 1.0]])).shape
        torch.Size([])
    """

    targets = "multi-label"

    def __init__(self, num_classes: int | None = None, class_counts: Sequence[int] | None = None,
                 num_samples: int | None = None, weighted: bool = True,
                 pos_weights: list[NonNegativeFloat] | None = None) -> None:
        super().__init__()
        if pos_weights is not None:
            if num_classes is not None and len(pos_weights) != num_classes:
                raise ValueError(f"multilabel-bce: {len(pos_weights)} pos_weights for {num_classes} outputs")
            w = torch.tensor(pos_weights, dtype=torch.float32)
        elif weighted and class_counts is not None and num_samples is not None:
            w = positive_weights(class_counts, num_samples)
        else:
            w = torch.ones(num_classes or 1)
        self.register_buffer("pos_weight", w)

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        logits = output.logits.float()
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype),
                                                  pos_weight=self.pos_weight.expand(logits.shape[-1]))


class MultiLabelFocal(nn.Module):
    """Focal loss per output (action unit): ``-a_t (1 - p_t)^gamma log(p_t)`` with ``p_t`` the
    sigmoid's probability of the true value, averaged over outputs and the batch. ``gamma``
    down-weights outputs already right; ``alpha`` (when given) weighs positives ``alpha`` and
    negatives ``1 - alpha``. ``gamma = 0`` and no ``alpha`` is plain BCE.

    Args:
        gamma: Focusing exponent ``>= 0``.
        alpha: Weight of the positive term in ``[0, 1]``; ``None``: no class weighting.

    Shape:
        - Input: ``output.logits`` ``(B, K)``, ``target`` ``(B, K)`` float in ``{0, 1}``.
        - Output: ``()``.

    Examples:
        >>> from mertk.api import ModelOutput
        >>> out = ModelOutput(logits=torch.tensor([[3.0, -3.0]]))
        >>> bool(MultiLabelFocal(gamma=2.0)(out, torch.tensor([[1.0, 0.0]])) < 1e-3)
        True
    """

    targets = "multi-label"

    def __init__(self, gamma: NonNegativeFloat = 2.0, alpha: Annotated[float, Field(ge=0, le=1)] | None = None) -> None:
        super().__init__()
        self.gamma, self.alpha = float(gamma), alpha

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        logits = output.logits.float()
        target = target.to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # -log(p_t)
        p_t = torch.exp(-bce)
        loss = (1 - p_t).pow(self.gamma) * bce
        if self.alpha is not None:
            loss = (self.alpha * target + (1 - self.alpha) * (1 - target)) * loss
        return loss.mean()
