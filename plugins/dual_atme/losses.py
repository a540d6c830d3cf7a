"""Dual-ATME losses: focal loss on the logits, cosine similarity between the branches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import NonNegativeFloat
from torch import nn

from mertk.api import ModelOutput

__all__ = ["FocalLoss", "SimilarityLoss"]


class FocalLoss(nn.Module):
    """Focal loss ``mean_i( -alpha_{y_i} * (1 - p_i)**gamma * log p_i )``, ``p_i`` = softmax prob of ``y_i``.

    Args:
        gamma: Focusing exponent; ``0`` gives (alpha-weighted) cross-entropy.
        alpha: One weight for every class (paper: 1), or one weight per class.

    Shape:
        - Input: ``output.logits`` ``(B, K)``, ``target`` ``(B,)`` int64.
        - Output: ``()``, the mean over the batch.

    Examples:
        >>> from mertk.api import ModelOutput
        >>> from mertk_dual_atme.losses import FocalLoss
        >>> output = ModelOutput(logits=torch.randn(4, 3))
        >>> loss = FocalLoss(gamma=2.0, alpha=[1.0, 2.0, 1.0])(output, torch.tensor([0, 2, 1, 0]))
        >>> loss.shape, loss.dtype
        (torch.Size([]), torch.float32)
    """

    def __init__(self, gamma: NonNegativeFloat = 2.0,
                 alpha: NonNegativeFloat | list[NonNegativeFloat] = 1.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float32))

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(output.logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        alpha = self.alpha[target] if self.alpha.ndim else self.alpha
        return (-alpha * (1 - log_p.exp()).pow(self.gamma) * log_p).mean()


class SimilarityLoss(nn.Module):
    """``mean_i(1 - cos(a_i, b_i))`` between two named feature vectors of the model output.

    Args:
        features: Names of the two ``(B, D)`` entries of ``output.features`` to pull together.

    Shape:
        - Input: ``output.features[a]``, ``output.features[b]`` ``(B, D)`` (``(B, ...)`` is
          flattened to ``(B, D)``); ``target`` is not used.
        - Output: ``()``, in ``[0, 2]``.

    Examples:
        >>> from mertk.api import ModelOutput
        >>> from mertk_dual_atme.losses import SimilarityLoss
        >>> features = {"upper": torch.rand(4, 16), "lower": torch.rand(4, 16)}
        >>> output = ModelOutput(logits=torch.zeros(4, 3), features=features)
        >>> SimilarityLoss(features=("upper", "lower"))(output, torch.zeros(4, dtype=torch.long)).shape
        torch.Size([])
    """

    targets = "any"  # the target is not read: the loss serves any task (mertk.api.LossTargets)

    def __init__(self, features: tuple[str, str] = ("upper", "lower")) -> None:
        super().__init__()
        self.features = tuple(features)

    def forward(self, output: ModelOutput, target: torch.Tensor) -> torch.Tensor:
        a, b = (output.features[name].flatten(1) for name in self.features)
        return (1 - F.cosine_similarity(a, b, dim=1)).mean()
