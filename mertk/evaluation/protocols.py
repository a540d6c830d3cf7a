"""Evaluation protocols (component kind ``protocol``): LOSO, LODO and stratified k-fold.

Each protocol's ``split(samples)`` returns :class:`~mertk.api.Fold` objects in a deterministic
order; every sample is in exactly one fold's ``test`` part, and train and test never overlap.
Folds only split data: nothing at this layer looks at a held-out part, and the engine evaluates
each fold once, with the model of the last epoch (no epoch or model selection on test data).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Annotated

from pydantic import Field, NonNegativeInt

from mertk.api import Fold, Sample
from mertk.errors import MertkError

__all__ = ["LeaveOneSubjectOut", "LeaveOneDatasetOut", "StratifiedKFold", "group_folds"]


def group_folds(samples: Sequence[Sample], key: Callable[[Sample], str]) -> list[Fold]:
    """One fold per distinct ``key(sample)``, sorted by key; the fold tests that group."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        groups[key(sample)].append(i)
    everyone = range(len(samples))
    folds = []
    for name in sorted(groups):
        test = set(groups[name])
        folds.append(Fold(name, tuple(i for i in everyone if i not in test), tuple(groups[name])))
    return folds


class LeaveOneSubjectOut:
    """Leave-one-subject-out: one fold per subject key (68 for the MEGC 2019 composite).

    Subject keys carry their dataset (``casme2/sub01``), so composites need nothing special.
    """

    def split(self, samples: Sequence[Sample]) -> list[Fold]:
        return group_folds(samples, lambda s: s.subject)


class LeaveOneDatasetOut:
    """Leave-one-dataset-out: train on all source datasets but one, test on that one.

    The cross-dataset protocol (MEB's for action units): every score is of a model that never saw
    the tested dataset's subjects, recording set-up or annotators. It needs samples of at least two
    source datasets (a composite, or a manifest whose ``dataset`` column names several); on one it
    refuses, as its only fold would have nothing to train on.
    """

    def split(self, samples: Sequence[Sample]) -> list[Fold]:
        datasets = sorted({s.dataset for s in samples})
        if len(datasets) == 1:
            raise MertkError(
                f"protocol lodo: all {len(samples)} usable samples come from one dataset ({datasets[0]!r}); "
                "leave-one-dataset-out trains on the other datasets, so it needs at least two. Fix: use a composite "
                "dataset (several sources, e.g. a manifest whose dataset column names them), or protocol loso")
        return group_folds(samples, lambda s: s.dataset)


class StratifiedKFold:
    """Stratified k-fold over samples (class proportions kept per fold).

    With ``by_subject: true`` a subject's samples stay in one fold (scikit-learn's
    ``StratifiedGroupKFold``), which keeps the test subjects unseen; plain k-fold mixes a
    subject's clips between train and test and overestimates accuracy.
    """

    def __init__(self, k: Annotated[int, Field(ge=2)] = 5, seed: NonNegativeInt = 0,
                 by_subject: bool = False) -> None:
        if k < 2:
            raise MertkError(f"protocol kfold: k must be at least 2, got {k}. Fix: set protocol.k")
        self.k, self.seed, self.by_subject = k, seed, by_subject

    def split(self, samples: Sequence[Sample]) -> list[Fold]:
        from sklearn.model_selection import StratifiedGroupKFold
        from sklearn.model_selection import StratifiedKFold as SkFold

        labels = [s.label for s in samples]
        if self.by_subject:
            splits = StratifiedGroupKFold(self.k, shuffle=True, random_state=self.seed).split(
                samples, labels, groups=[s.subject for s in samples])
        else:
            splits = SkFold(self.k, shuffle=True, random_state=self.seed).split(samples, labels)
        width = len(str(self.k))
        return [Fold(f"fold{i + 1:0{width}d}", tuple(int(j) for j in train), tuple(int(j) for j in test))
                for i, (train, test) in enumerate(splits)]
