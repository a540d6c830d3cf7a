"""MEGC metrics on pooled predictions: UF1, UAR, accuracy and the confusion matrix.

Predictions of all folds are pooled first, then scored, overall and per group (source dataset),
always over the full class set ``range(len(class_names))``:

* ``uf1`` = mean over classes of ``2 TP / (2 TP + FP + FN)``;
* ``uar`` = mean over classes of ``TP / N_c`` (recall);
* ``accuracy`` = correct / n.

A class with no samples in a slice still counts in the mean, as in MEGC. Where a ratio is 0/0 it
counts as 0: an absent class that is never predicted has F1 = 0 and recall = 0 (scikit-learn's
``f1_score`` / ``recall_score`` with ``labels=range(K), average="macro", zero_division=0``).
An empty slice has every score 0 and ``n = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["evaluate", "scores", "per_class", "multilabel_scores", "evaluate_multilabel"]


def per_class(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall`` and ``f1``, each ``(K,)``, from a ``(K, K)`` confusion matrix.

    ``confusion[i, j]`` counts samples of true class ``i`` predicted as ``j``. A score whose
    denominator is 0 (a class never predicted, or never present) is 0.
    """
    confusion = np.asarray(confusion, dtype=float)
    tp = np.diag(confusion)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)

    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        return np.divide(numerator, denominator, out=np.zeros_like(tp), where=denominator > 0)

    return {"precision": ratio(tp, predicted), "recall": ratio(tp, support),
            "f1": ratio(2 * tp, support + predicted)}  # 2TP / (2TP + FP + FN)


def scores(confusion: np.ndarray) -> dict[str, Any]:
    """UF1, UAR, accuracy, n and the confusion matrix (list of lists) from a ``(K, K)`` matrix.

    ``confusion[i, j]`` counts samples of true class ``i`` predicted as ``j``.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    per = per_class(confusion)
    n = int(confusion.sum())
    k = len(confusion)
    return {
        "uf1": float(per["f1"].mean()) if k else 0.0,
        "uar": float(per["recall"].mean()) if k else 0.0,
        "accuracy": float(np.trace(confusion) / n) if n else 0.0,
        "n": n,
        "confusion": confusion.tolist(),
    }


def evaluate(y_true: Sequence[int], y_pred: Sequence[int], *, class_names: Sequence[str],
             groups: Sequence[str] | None = None) -> dict[str, Any]:
    """Score pooled predictions overall and per group.

    Args:
        y_true: True labels, ``(N,)`` ints in ``[0, K)``.
        y_pred: Predicted labels, ``(N,)`` ints in ``[0, K)``.
        class_names: The ``K`` class names; fixes the class set.
        groups: Optional ``(N,)`` group of each sample (e.g. its source dataset).

    Returns:
        ``{"overall": S, "per_group": {group: S}}`` with ``S = {"uf1", "uar", "accuracy", "n",
        "confusion"}`` (confusion rows are true classes, columns predicted, ``K x K``); groups
        are sorted.

    Raises:
        ValueError: lengths differ or a label is outside ``[0, K)``.
    """
    k = len(class_names)
    true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if len(true) != len(pred) or (groups is not None and len(groups) != len(true)):
        raise ValueError(f"y_true, y_pred and groups differ in length: {len(true)}, {len(pred)}, "
                         f"{None if groups is None else len(groups)}")
    for name, labels in (("y_true", true), ("y_pred", pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(f"{name} has labels outside 0..{k - 1} (class_names: {list(class_names)})")

    def slice_scores(mask: np.ndarray) -> dict[str, Any]:
        matrix = np.bincount(true[mask] * k + pred[mask], minlength=k * k).reshape(k, k)
        return scores(matrix)

    result: dict[str, Any] = {"overall": slice_scores(np.ones(len(true), dtype=bool)), "per_group": {}}
    if groups is not None:
        group_array = np.asarray(list(groups), dtype=object)
        for group in sorted(set(groups)):
            result["per_group"][group] = slice_scores(group_array == group)
    return result


def multilabel_scores(true: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Per-output F1 and their mean from ``(N, K)`` 0/1 decisions (one column per action unit).

    For output ``k``: ``F1_k = 2 TP / (2 TP + FP + FN)`` over the ``N`` samples, 0 where that is
    0/0 (an AU neither present nor predicted in the slice, as scikit-learn's ``zero_division=0``).

    Returns:
        ``{"au_f1": mean F1_k, "per_au": {name: F1_k}, "support": {name: positives}, "n": N}``.
    """
    true = np.asarray(true, dtype=bool).reshape(-1, len(names))
    pred = np.asarray(pred, dtype=bool).reshape(-1, len(names))
    tp = (true & pred).sum(0).astype(float)
    fp = (~true & pred).sum(0).astype(float)
    fn = (true & ~pred).sum(0).astype(float)
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return {"au_f1": float(f1.mean()) if len(names) else 0.0,
            "per_au": {name: float(v) for name, v in zip(names, f1)},
            "support": {name: int(v) for name, v in zip(names, true.sum(0))}, "n": int(len(true))}


def evaluate_multilabel(y_true: Sequence[Sequence[int]], y_pred: Sequence[Sequence[int]], *,
                        names: Sequence[str], groups: Sequence[str] | None = None) -> dict[str, Any]:
    """Score pooled multi-label decisions overall and per group (:func:`multilabel_scores`).

    Args:
        y_true: ``(N, K)`` true 0/1 per output.
        y_pred: ``(N, K)`` predicted 0/1 per output.
        names: The ``K`` output names (``"AU1"``, ``"AU4"``, ...).
        groups: Optional ``(N,)`` group of each sample (its source dataset).

    Returns:
        ``{"overall": S, "per_group": {group: S}}`` with ``S`` as :func:`multilabel_scores`; groups sorted.

    Raises:
        ValueError: the shapes differ, or a row does not have ``K`` values.
    """
    k = len(names)
    true = np.asarray(y_true, dtype=np.int64).reshape(-1, k) if len(y_true) else np.zeros((0, k), np.int64)
    pred = np.asarray(y_pred, dtype=np.int64).reshape(-1, k) if len(y_pred) else np.zeros((0, k), np.int64)
    if true.shape != pred.shape or (groups is not None and len(groups) != len(true)):
        raise ValueError(f"y_true, y_pred and groups differ in shape: {true.shape}, {pred.shape}, "
                         f"{None if groups is None else len(groups)}")
    result: dict[str, Any] = {"overall": multilabel_scores(true, pred, names), "per_group": {}}
    if groups is not None:
        group_array = np.asarray(list(groups), dtype=object)
        for group in sorted(set(groups)):
            mask = group_array == group
            result["per_group"][group] = multilabel_scores(true[mask], pred[mask], names)
    return result
