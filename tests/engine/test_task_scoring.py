"""The action-unit task's parts against hand-computed values: per-AU F1 and their mean, the
multi-label losses (positive weights change what is learnt), targets, decisions and the training
statistic; and the emotion task giving what the engine gave before tasks."""

from __future__ import annotations

import math

import pytest
import torch

from mertk.api import ModelOutput, Sample, Task
from mertk.builtin.losses import MultiLabelBCE, MultiLabelFocal, positive_weights
from mertk.builtin.tasks import ActionUnitTask, EmotionTask
from mertk.errors import ArgumentError
from mertk.evaluation.metrics import evaluate_multilabel
from mertk.testing import check_deferred_factory

NAMES = ["AU1", "AU4", "AU12"]


def test_per_au_f1_and_their_mean_match_a_hand_computation() -> None:
    y_true = [[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]]
    y_pred = [[1, 1, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]]
    groups = ["casme2", "casme2", "samm", "samm"]
    scored = evaluate_multilabel(y_true, y_pred, names=NAMES, groups=groups)
    # AU1: TP 1, FP 0, FN 1 -> 2/3; AU4: TP 1, FP 1, FN 1 -> 1/2; AU12: TP 0, FP 1, FN 0 -> 0
    assert scored["overall"]["per_au"] == pytest.approx({"AU1": 2 / 3, "AU4": 1 / 2, "AU12": 0.0})
    assert scored["overall"]["au_f1"] == pytest.approx((2 / 3 + 1 / 2) / 3)
    assert scored["overall"]["support"] == {"AU1": 2, "AU4": 2, "AU12": 0} and scored["overall"]["n"] == 4
    # casme2: AU1 TP 1 FN 1 -> 2/3; AU4 TP 1 FP 1 -> 2/3; AU12 absent and never predicted -> 0
    assert scored["per_group"]["casme2"]["per_au"] == pytest.approx({"AU1": 2 / 3, "AU4": 2 / 3, "AU12": 0.0})
    # samm: AU1 0/0 -> 0; AU4 FN 1 -> 0; AU12 FP 1 -> 0
    assert scored["per_group"]["samm"]["au_f1"] == 0.0


def test_the_au_task_writes_au_f1_and_per_au_at_the_top_of_metrics() -> None:
    task = ActionUnitTask(aus=NAMES)
    metrics = task.evaluate([[1, 0, 0], [0, 1, 1]], [[1, 0, 0], [0, 1, 0]], NAMES, ["a", "b"])
    assert metrics["task"] == "aus" and metrics["aus"] == NAMES
    assert metrics["per_au"] == pytest.approx({"AU1": 1.0, "AU4": 1.0, "AU12": 0.0})
    assert metrics["au_f1"] == pytest.approx(2 / 3) == metrics["overall"]["au_f1"]
    assert set(metrics["per_group"]) == {"a", "b"}


def test_au_targets_decisions_and_training_statistic() -> None:
    task = ActionUnitTask(aus=["AU1", "au4", 12])
    assert task.aus == ("AU1", "AU4", "AU12")
    samples = [Sample(id="a", subject="s", clip="a", dataset="casme2", label=0, aus=("AU4", "AU12", "AU9")),
               Sample(id="b", subject="s", clip="b", dataset="casme2", label=1, aus=()),
               Sample(id="c", subject="s", clip="c", dataset="smic", label=1, aus=None)]
    assert [task.skip_reason(s) is None for s in samples] == [True, True, False]
    assert "smic" in task.skip_reason(samples[2])
    targets = task.targets(samples[:2], ("negative", "positive"))
    assert targets.dtype == torch.float32 and targets.tolist() == [[0, 1, 1], [0, 0, 0]]  # AU9 is not detected
    assert task.counts(targets, 3) == [0, 1, 1]
    logits = torch.tensor([[-2.0, 1.0, -0.5], [3.0, -1.0, -4.0]])
    assert task.decide(task.scores(logits)).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert task.hits(logits, targets).tolist() == pytest.approx([2 / 3, 2 / 3])
    stacked = task.hits(logits.expand(4, 2, 3), targets.expand(4, 2, 3))  # a stack of 4 folds' batches
    assert stacked.shape == (4, 2)


def test_au_codes_are_normalised_and_bad_ones_named() -> None:
    assert ActionUnitTask(aus=["au12", 4, "AU1"]).aus == ("AU1", "AU4", "AU12")
    for bad, why in ((["R12"], "not a FACS action unit"), (["AU3"], "not a FACS action unit"),
                     (["AU4", 4], "named twice"), ([], "empty")):
        with pytest.raises(ArgumentError, match=why) as refused:
            ActionUnitTask.check_arguments(bad)
        assert refused.value.argument.startswith("aus")


def test_the_emotion_task_is_the_engine_of_before() -> None:
    task = EmotionTask()
    samples = [Sample(id=str(i), subject="s", clip=str(i), dataset="d", label=label) for i, label in enumerate([2, 0, 2])]
    targets = task.targets(samples, ("a", "b", "c"))
    assert targets.dtype == torch.int64 and targets.tolist() == [2, 0, 2]
    assert task.counts(targets, 3) == [1, 0, 2]
    logits = torch.tensor([[0.0, 1.0, 3.0], [2.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    assert torch.equal(task.scores(logits), torch.softmax(logits, dim=1))
    assert task.decide(task.scores(logits)).tolist() == [2, 0, 0]
    assert task.hits(logits, targets).tolist() == [1.0, 1.0, 0.0]
    assert task.output_names(("a", "b", "c")) == ("a", "b", "c")
    metrics = task.evaluate([2, 0, 2], [2, 0, 0], ["a", "b", "c"], ["d"] * 3)
    assert set(metrics) == {"overall", "per_group", "class_names"}  # the keys metrics.json always had
    assert isinstance(task, Task) and isinstance(ActionUnitTask(aus=["AU1"]), Task)


def test_positive_weights_are_negatives_over_positives_of_the_training_fold() -> None:
    assert positive_weights([1, 3, 0], num_samples=4).tolist() == [3.0, pytest.approx(1 / 3), 1.0]
    logits = torch.zeros(4, 2)  # every term is log 2
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    weighted = MultiLabelBCE(num_classes=2, class_counts=[1, 0], num_samples=4)(ModelOutput(logits), target)
    plain = MultiLabelBCE(num_classes=2, weighted=False)(ModelOutput(logits), target)
    assert float(plain) == pytest.approx(math.log(2))
    # column 0: one positive weighted 3 and three negatives; column 1: four negatives -> (3 + 3 + 4) / 8
    assert float(weighted) == pytest.approx(10 / 8 * math.log(2))
    explicit = MultiLabelBCE(num_classes=2, pos_weights=[2.0, 5.0])(ModelOutput(logits), target)
    assert float(explicit) == pytest.approx((2 + 3 + 4) / 8 * math.log(2))


def test_positive_weights_make_a_rare_au_learnt_instead_of_always_absent() -> None:
    """One AU present in 1 clip of 10: plain BCE's optimum scores it below 0.5 everywhere (the
    rare positive is never detected); weighted by negatives / positives, its optimum is 0.5."""
    target = torch.tensor([[1.0]] + [[0.0]] * 9)
    outcome = {}
    for weighted in (False, True):
        bias = torch.zeros(1, requires_grad=True)
        loss_fn = MultiLabelBCE(num_classes=1, class_counts=[1], num_samples=10, weighted=weighted)
        optimizer = torch.optim.SGD([bias], lr=0.5)
        for _ in range(300):
            optimizer.zero_grad()
            loss_fn(ModelOutput(bias.expand(10, 1)), target).backward()
            optimizer.step()
        outcome[weighted] = float(torch.sigmoid(bias.detach()))
    assert outcome[False] == pytest.approx(0.1, abs=0.01) and outcome[True] == pytest.approx(0.5, abs=0.01)


def test_multilabel_focal_is_bce_at_gamma_0_and_eases_off_what_is_already_right() -> None:
    logits = torch.tensor([[3.0, -3.0], [0.2, 0.1]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    bce = MultiLabelBCE(num_classes=2, weighted=False)(ModelOutput(logits), target)
    assert float(MultiLabelFocal(gamma=0.0)(ModelOutput(logits), target)) == pytest.approx(float(bce))
    easy = ModelOutput(logits[:1])
    assert float(MultiLabelFocal(gamma=2.0)(easy, target[:1])) < 0.01 * float(
        MultiLabelFocal(gamma=0.0)(easy, target[:1]))
    # alpha weighs positives alpha and negatives 1 - alpha: at logits 0 each term is log 2
    half = MultiLabelFocal(gamma=0.0, alpha=0.25)(ModelOutput(torch.zeros(1, 2)), torch.tensor([[1.0, 0.0]]))
    assert float(half) == pytest.approx((0.25 + 0.75) / 2 * math.log(2))


def test_the_multilabel_loss_factories_match_their_classes() -> None:
    from mertk.builtin import factories

    for factory in (factories.multilabel_bce, factories.multilabel_focal):
        check_deferred_factory(factory)
        assert factory.targets == "multi-label"
