"""MEGC metrics against scikit-learn, and the protocols' folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score

import mertk
from mertk.api import Sample
from mertk.evaluation.metrics import evaluate, per_class

CLASSES = ("negative", "positive", "surprise")


def sk_scores(y_true, y_pred, k: int) -> dict:
    labels = list(range(k))
    return {
        "uf1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "uar": recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "accuracy": accuracy_score(y_true, y_pred),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


@pytest.mark.parametrize("seed", range(8))
def test_metrics_match_sklearn_on_random_predictions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    n = int(rng.integers(5, 80))
    y_true = rng.integers(0, k, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, k, n))
    groups = rng.choice(["casme2", "samm", "smic"], n)
    result = evaluate(y_true.tolist(), y_pred.tolist(), class_names=[f"c{i}" for i in range(k)], groups=groups.tolist())
    for scores, mask in [(result["overall"], np.ones(n, bool))] + [
            (result["per_group"][g], groups == g) for g in sorted(set(groups))]:
        expected = sk_scores(y_true[mask], y_pred[mask], k)
        assert scores["uf1"] == pytest.approx(expected["uf1"])
        assert scores["uar"] == pytest.approx(expected["uar"])
        assert scores["accuracy"] == pytest.approx(expected["accuracy"])
        assert scores["confusion"] == expected["confusion"] and scores["n"] == int(mask.sum())
    assert list(result["per_group"]) == sorted(set(groups))


@pytest.mark.parametrize("seed", range(4))
def test_per_class_scores_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k, n = 4, 40
    y_true = rng.integers(0, k - 1, n)  # the last class never occurs
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, k, n))
    ours = per_class(confusion_matrix(y_true, y_pred, labels=list(range(k))))
    for name, metric in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        expected = metric(y_true, y_pred, labels=list(range(k)), average=None, zero_division=0)
        np.testing.assert_allclose(ours[name], expected)


def test_absent_class_counts_as_zero_in_the_mean() -> None:
    # class 2 never occurs and is never predicted: its F1 and recall are 0, so the means are 2/3
    result = evaluate([0, 0, 1, 1], [0, 0, 1, 1], class_names=CLASSES)["overall"]
    assert result["uf1"] == pytest.approx(2 / 3) and result["uar"] == pytest.approx(2 / 3)
    assert result["accuracy"] == 1.0 and result["confusion"] == [[2, 0, 0], [0, 2, 0], [0, 0, 0]]
    empty = evaluate([], [], class_names=CLASSES)
    assert empty["overall"]["n"] == 0 and empty["overall"]["uf1"] == 0.0 and empty["per_group"] == {}
    with pytest.raises(ValueError, match="outside"):
        evaluate([0, 3], [0, 1], class_names=CLASSES)
    with pytest.raises(ValueError, match="length"):
        evaluate([0, 1], [0], class_names=CLASSES)


def samples(n_subjects: int = 5, per_subject: int = 6) -> list[Sample]:
    rng = np.random.default_rng(1)
    out = []
    for s in rng.permutation(n_subjects):
        dataset = "casme2" if s % 2 else "samm"
        for c in range(per_subject):
            out.append(Sample(id=f"{dataset}/s{s}/c{c}", subject=f"{dataset}/s{s}", clip=f"c{c}", dataset=dataset,
                              label=c % 3))
    return out


def check_partition(folds, n: int) -> None:
    tested = sorted(i for f in folds for i in f.test)
    assert tested == list(range(n))  # every sample tested exactly once
    for fold in folds:
        assert set(fold.train).isdisjoint(fold.test) and len(fold.train) + len(fold.test) == n


@pytest.mark.parametrize("spec", ["loso", "lodo", {"name": "kfold", "k": 4, "seed": 3},
                                  {"name": "kfold", "k": 3, "by_subject": True}])
def test_protocols_partition_deterministically(spec) -> None:
    components = mertk.load_components()
    data = samples()
    folds = components.build("protocol", spec).split(data)
    check_partition(folds, len(data))
    assert folds == components.build("protocol", spec).split(data)


def test_loso_and_lodo_groups() -> None:
    components = mertk.load_components()
    data = samples()
    loso = components.create("protocol", "loso").split(data)
    assert [f.name for f in loso] == sorted({s.subject for s in data})
    assert all(len({data[i].subject for i in f.test}) == 1 for f in loso)
    assert all(data[i].subject != f.name for f in loso for i in f.train)
    lodo = components.create("protocol", "lodo").split(data)
    assert [f.name for f in lodo] == ["casme2", "samm"]
    kfold = components.create("protocol", "kfold", k=3, by_subject=True).split(data)
    assert all({data[i].subject for i in f.test}.isdisjoint({data[i].subject for i in f.train}) for f in kfold)
    with pytest.raises(mertk.MertkError, match="k: input should be greater than or equal to 2, got 1"):
        components.create("protocol", "kfold", k=1)
