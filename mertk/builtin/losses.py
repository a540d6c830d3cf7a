"""Generic classification losses: ``forward(output: ModelOutput, target: (B,) int64) -> scalar``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field, NonNegativeFloat
from torch import nn

from mertk.api import ModelOutput

__all__ = ["CrossEntropy", "WeightedCrossEntropy"]


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
