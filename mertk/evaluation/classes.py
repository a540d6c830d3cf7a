"""Refuse data and folds that cannot train a classifier: fewer than two classes to learn from.

A model trained on one class predicts that class for every test sample, so a run would report
chance-level scores (UF1 0) as if they measured the method. :func:`check_classes` refuses such
data before any preprocessing or training, and :func:`check_fold_classes` a protocol that leaves
a fold's training set with a single class (or none).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mertk.api import Fold, Sample
from mertk.errors import MertkError

__all__ = ["check_classes", "check_fold_classes"]


def _name(label: int, class_names: Sequence[str]) -> str:
    return class_names[label] if 0 <= label < len(class_names) else str(label)


def check_classes(samples: Sequence[Sample], class_names: Sequence[str], *, source: str) -> None:
    """Refuse ``samples`` (when there are any) that all belong to one class.

    Args:
        samples: The usable samples.
        class_names: Class index -> name.
        source: What the samples come from, for the message (``"run.yaml: dataset"``).

    Raises:
        MertkError: naming the class, the number of samples and the fix.
    """
    counts = Counter(s.label for s in samples)
    if len(counts) != 1:
        return
    ((label, n),) = counts.items()
    raise MertkError(
        f"{source}: all {n} usable samples are of class {_name(label, class_names)!r}; a classifier needs at least "
        "two classes to learn from (its scores would be chance, UF1 0). Fix: check the dataset's classes argument "
        "and the labels of its annotation, or add samples of the other classes")


def check_fold_classes(folds: Sequence[Fold], samples: Sequence[Sample], class_names: Sequence[str], *,
                       source: str) -> None:
    """Refuse a protocol that leaves a fold's training set with fewer than two classes.

    Args:
        source: The protocol, for the message (``"run.yaml: protocol 'loso'"``).

    Raises:
        MertkError: naming the first such fold, its training classes and the fix.
    """
    for number, fold in enumerate(folds, 1):
        counts = Counter(samples[i].label for i in fold.train)
        if len(counts) >= 2:
            continue
        what = "no training samples"
        for label, n in counts.items():
            what = f"only class {_name(label, class_names)!r} ({n} samples)"
        raise MertkError(
            f"{source}: fold {number}/{len(folds)} {fold.name} has {what} to train on; a classifier needs "
            "at least two classes (its scores would be chance). Fix: choose a protocol whose training sets keep "
            "several classes (e.g. loso over more subjects, or kfold), or add samples of the other classes")
