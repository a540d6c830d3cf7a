"""A linear SVM on one flattened view, fitted with scikit-learn instead of trained by gradient.

Models with a ``fit(views, labels)`` method are *fitted* models: the engine calls ``fit`` on the
training fold instead of running the optimizer, then predicts with ``forward`` as for any model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from pydantic import PositiveFloat, PositiveInt
from torch import nn

from mertk.api import ModelOutput

__all__ = ["LinearSVM"]

#: Bias of a class absent from the training fold: never predicted.
ABSENT = -1e4


class LinearSVM(nn.Module):
    """Standardised features -> one-vs-rest linear SVM (:class:`sklearn.svm.LinearSVC`).

    The fitted scaler and hyperplanes are kept as buffers (``mean``, ``scale``, ``weight``
    ``(K, D)``, ``bias`` ``(K,)``), so the model is saved, loaded and moved like any module;
    ``D`` is fixed by the first forward pass (the engine's dry run), before which every class
    scores 0.

    Args:
        num_classes: Number of classes ``K`` (supplied by the engine).
        in_channels: Channels of the view (supplied by the engine; not needed).
        view: Name of the input view, e.g. ``lbp-top``.
        C: SVM regularisation (larger: fit the training fold more closely).
        class_weight: ``balanced`` weighs classes by inverse training-fold frequency.
        max_iter: Iterations of the liblinear solver.

    Shape:
        - Input: ``{view: (B, ...)}``, flattened to ``(B, D)``.
        - Output: :class:`~mertk.api.ModelOutput` with ``logits (B, K)`` (signed distances to
          the hyperplanes) and ``features {"input": (B, D)}``.

    Examples:
        >>> from mertk_baselines.svm import LinearSVM
        >>> svm = LinearSVM(num_classes=3, in_channels=1, view="lbp-top")
        >>> views, labels = {"lbp-top": torch.rand(12, 1, 4, 4)}, torch.arange(12) % 3
        >>> svm.fit(views, labels)
        >>> svm(views).logits.shape, svm.weight.shape, svm.bias.shape
        (torch.Size([12, 3]), torch.Size([3, 16]), torch.Size([3]))
    """

    def __init__(self, num_classes: int, in_channels: int, view: str = "lbp-top", C: PositiveFloat = 1.0,
                 class_weight: str | None = "balanced", max_iter: PositiveInt = 10000) -> None:
        super().__init__()
        self.views = (view,)
        self.num_classes, self.C, self.class_weight, self.max_iter = num_classes, C, class_weight, max_iter
        for name in ("mean", "scale", "weight", "bias"):
            self.register_buffer(name, torch.zeros(0))

    def _allocate(self, dim: int) -> None:
        k = self.num_classes
        self.mean, self.scale = torch.zeros(dim), torch.ones(dim)
        self.weight, self.bias = torch.zeros(k, dim), torch.zeros(k)

    def forward(self, views: Mapping[str, torch.Tensor]) -> ModelOutput:
        x = views[self.views[0]].flatten(1).float()
        if self.weight.numel() == 0:
            self._allocate(x.shape[1])
            self.to(x.device)
        z = (x - self.mean) / self.scale
        return ModelOutput(logits=z @ self.weight.T + self.bias, features={"input": x})

    def fit(self, views: Mapping[str, torch.Tensor], labels: torch.Tensor) -> None:
        """Fit the scaler and the SVM on ``{view: (N, ...)}`` and ``(N,)`` int64 labels."""
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC

        x = views[self.views[0]].flatten(1).double().cpu().numpy()
        y = labels.cpu().numpy()
        device = labels.device
        scaler = StandardScaler().fit(x)
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                        random_state=int(torch.initial_seed() % 2**31))
        svm.fit(scaler.transform(x), y)
        self._allocate(x.shape[1])
        coef, intercept = svm.coef_, svm.intercept_
        if len(svm.classes_) == 2:  # one hyperplane: +distance for the second class, - for the first
            coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
        self.bias.fill_(ABSENT)
        for row, cls in enumerate(svm.classes_):
            self.weight[cls] = torch.from_numpy(coef[row]).float()
            self.bias[cls] = float(intercept[row])
        self.mean = torch.from_numpy(scaler.mean_).float()
        self.scale = torch.from_numpy(np.where(scaler.scale_ > 0, scaler.scale_, 1.0)).float()
        self.to(device)
